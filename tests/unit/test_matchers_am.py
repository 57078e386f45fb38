"""Label matchers parse exactly as Alertmanager parses them (fallback mode).

The tables below are transcribed from Alertmanager's own parser tests at commit
68fb2d5759b3a92c0bb2a1a13d4ef7ff5b06256d (github.com/prometheus/alertmanager), every case:

* ``pkg/labels/parse_test.go`` TestMatchers                      -> CLASSIC_MATCHERS (classic_matchers)
* ``matcher/parse/parse_test.go`` TestMatchers                    -> UTF8_MATCHERS (utf8_matchers)
* ``matcher/parse/parse_test.go`` TestMatcher                     -> UTF8_MATCHER (utf8_matcher)
* ``matcher/compat/parse_test.go`` TestFallbackMatcherParser      -> FALLBACK_MATCHER (fallback_matcher)
* ``matcher/compat/parse_test.go`` TestFallbackMatchersParser     -> FALLBACK_MATCHERS (fallback_matchers)

139 cases: 53 + 45 + 31 + 5 + 5. Each row is (input, expected): the matchers as
(name, op, value) (Go's nil, no matchers, is []), or Err(message) where the Go test
expects an error; error messages are compared exactly, as the Go tests do. Go string
literals are kept as Python literals with the same value (raw `...` as r'...'); the Go
test's name, where it has one, is the row's comment.

Not carried over, with the reason:

* ``matcher/compat/parse_test.go`` TestIsValidClassicLabelName and TestIsValidUTF8LabelName
  (5 cases each): they test label-name validators for config fields (compat.IsValidLabelName),
  not matcher parsing; appwatch has no such validators.

Every transcribed case is honoured. The one RE2 error in the tables
(``{foo=~"invalid[regexp"}``) is Python ``re``'s error, worded as Go words it.
"""

from __future__ import annotations

import time

import pytest
from pydantic import ValidationError

from alerts.config import AlertsConfig
from alerts.silence import Silence, dump_matchers
from core.matchers import (
    Matcher,
    MatcherError,
    Matchers,
    classic_matchers,
    fallback_matcher,
    fallback_matchers,
    go_quote,
    go_unquote,
    parse_matchers,
    utf8_matcher,
    utf8_matchers,
)
from core.yamlfile import ConfigError, parse
from streams.rules import RuleSet


class Err(str):
    """The error message a Go test case expects."""


CLASSIC_MATCHERS = [
    (r"{}", []),
    (r",", Err("bad matcher format: ")),
    (r"{,}", Err("bad matcher format: ")),
    (r"{foo='}", [("foo", "=", "'")]),
    ("{foo=`}", [("foo", "=", "`")]),
    ('{foo=\\"}', [("foo", "=", '"')]),
    (r"{foo=bar}", [("foo", "=", "bar")]),
    (r'{foo="bar"}', [("foo", "=", "bar")]),
    (r"{foo=~bar.*}", [("foo", "=~", "bar.*")]),
    (r'{foo=~"bar.*"}', [("foo", "=~", "bar.*")]),
    (r"{foo!=bar}", [("foo", "!=", "bar")]),
    (r'{foo!="bar"}', [("foo", "!=", "bar")]),
    (r"{foo!~bar.*}", [("foo", "!~", "bar.*")]),
    (r'{foo!~"bar.*"}', [("foo", "!~", "bar.*")]),
    (r'{foo="bar", baz!="quux"}', [("foo", "=", "bar"), ("baz", "!=", "quux")]),
    (r'{foo="bar", baz!~"quux.*"}', [("foo", "=", "bar"), ("baz", "!~", "quux.*")]),
    (r'{foo="bar",baz!~".*quux", derp="wat"}', [("foo", "=", "bar"), ("baz", "!~", ".*quux"), ("derp", "=", "wat")]),
    (r'{foo="bar", baz!="quux", derp="wat"}', [("foo", "=", "bar"), ("baz", "!=", "quux"), ("derp", "=", "wat")]),
    (
        r'{foo="bar", baz!~".*quux.*", derp="wat"}',
        [("foo", "=", "bar"), ("baz", "!~", ".*quux.*"), ("derp", "=", "wat")],
    ),
    (r'{foo="bar", instance=~"some-api.*"}', [("foo", "=", "bar"), ("instance", "=~", "some-api.*")]),
    (r'{foo=""}', [("foo", "=", "")]),
    (r'{foo="bar,quux", job="job1"}', [("foo", "=", "bar,quux"), ("job", "=", "job1")]),
    (r'{foo = "bar", dings != "bums", }', [("foo", "=", "bar"), ("dings", "!=", "bums")]),
    (r"foo=bar,dings!=bums", [("foo", "=", "bar"), ("dings", "!=", "bums")]),
    (
        r"""{quote="She said: \"Hi, ladies! That's gender-neutral…\""}""",
        [("quote", "=", r'''She said: "Hi, ladies! That's gender-neutral…"''')],
    ),
    (r'statuscode=~"5.."', [("statuscode", "=~", "5..")]),
    (r"tricky=~~~", [("tricky", "=~", "~~")]),
    (r"trickier==\\=\=\"", [("trickier", "=", r'=\=\="')]),
    (
        r'contains_quote != "\"" , contains_comma !~ "foo,bar" , ',
        [("contains_quote", "!=", r'"'), ("contains_comma", "!~", "foo,bar")],
    ),
    (r"{foo=bar}}", [("foo", "=", "bar}")]),
    (r"{foo=bar}},}", [("foo", "=", "bar}}")]),
    (r"{foo=,bar=}}", [("foo", "=", ""), ("bar", "=", "}")]),
    (r"{foo=bar\t}", [("foo", "=", "bar\\t")]),
    (r"{foo=bar\n}", [("foo", "=", "bar\n")]),
    (r"{foo=bar\}", [("foo", "=", "bar\\")]),
    (r"{foo=bar\\}", [("foo", "=", "bar\\")]),
    (r"{foo=bar\"}", [("foo", "=", 'bar"')]),
    (r"job=", [("job", "=", "")]),
    (r'job="value', Err(r'matcher value contains unescaped double quote: "value')),
    (r'job=value"', Err(r'matcher value contains unescaped double quote: value"')),
    (r'trickier==\\=\=\""', Err(r'matcher value contains unescaped double quote: =\\=\=\""')),
    (r'contains_unescaped_quote = foo"bar', Err(r'matcher value contains unescaped double quote: foo"bar')),
    (r'{invalid-name = "valid label"}', Err(r'bad matcher format: invalid-name = "valid label"')),
    (r'{foo=~"invalid[regexp"}', Err("error parsing regexp: missing closing ]: `[regexp)$`")),
    (r'"{foo=\"bar"}', Err(r'bad matcher format: "{foo=\"bar"')),
    (r'"foo=\"bar"', Err(r'bad matcher format: "foo=\"bar"')),
    (r'"foo=\"bar\""', Err(r'bad matcher format: "foo=\"bar\""')),
    (r'"foo=\"bar\"', Err(r'bad matcher format: "foo=\"bar\"')),
    (r'"{foo=\"bar\"}"', Err(r'bad matcher format: "{foo=\"bar\"}"')),
    (r'"foo="bar""', Err(r'bad matcher format: "foo="bar""')),
    (r"{{foo=", Err(r"bad matcher format: {foo=")),
    (r"{foo=", [("foo", "=", "")]),
    (r"{foo=}b", [("foo", "=", "}b")]),
]

UTF8_MATCHERS = [
    ("", []),  # no braces
    ("{}", []),  # open and closing braces
    ("{foo=bar}", [("foo", "=", "bar")]),  # equals
    ("{foo=bar,}", [("foo", "=", "bar")]),  # equals with trailing comma
    ("{foo!=bar}", [("foo", "!=", "bar")]),  # not equals
    ("{foo=~[a-z]+}", [("foo", "=~", "[a-z]+")]),  # match regex
    ("{foo!~[a-z]+}", [("foo", "!~", "[a-z]+")]),  # doesn't match regex
    ("{foo=🙂}", [("foo", "=", "🙂")]),  # equals unicode emoji
    ("{foo=🙂bar}", [("foo", "=", "🙂bar")]),  # equals unicode sentence
    ("foo=bar", [("foo", "=", "bar")]),  # equals without braces
    ("foo=bar,", [("foo", "=", "bar")]),  # equals without braces but with trailing comma
    ("foo!=bar", [("foo", "!=", "bar")]),  # not equals without braces
    ("foo=~[a-z]+", [("foo", "=~", "[a-z]+")]),  # match regex without braces
    ("foo!~[a-z]+", [("foo", "!~", "[a-z]+")]),  # doesn't match regex without braces
    ('{"foo"="bar"}', [("foo", "=", "bar")]),  # equals in quotes
    ('{"foo"="bar",}', [("foo", "=", "bar")]),  # equals in quotes and with trailing comma
    ('{"foo"!="bar"}', [("foo", "!=", "bar")]),  # not equals in quotes
    ('{"foo"=~"[a-z]+"}', [("foo", "=~", "[a-z]+")]),  # match regex in quotes
    ('{"foo"=~"\\\\d+"}', [("foo", "=~", "\\d+")]),  # match regex digit in quotes
    ('{"foo"!~"[a-z]+"}', [("foo", "!~", "[a-z]+")]),  # doesn't match regex in quotes
    ('{"foo"="🙂"}', [("foo", "=", "🙂")]),  # equals unicode emoji in quotes
    ('{"foo"="\\xf0\\x9f\\x99\\x82"}', [("foo", "=", "🙂")]),  # equals unicode emoji as bytes in quotes
    ('{"foo"="\\U0001f642"}', [("foo", "=", "🙂")]),  # equals unicode emoji as code points in quotes
    ('{"foo"="🙂bar"}', [("foo", "=", "🙂bar")]),  # equals unicode sentence in quotes
    ('{"foo"="bar\\n"}', [("foo", "=", "bar\n")]),  # equals with newline in quotes
    ('{"foo"="bar\\t"}', [("foo", "=", "bar\t")]),  # equals with tab in quotes
    ('{"foo"="\\"bar\\""}', [("foo", "=", '"bar"')]),  # equals with escaped quotes in quotes
    ('{"foo"="bar\\\\"}', [("foo", "=", "bar\\")]),  # equals with escaped backslash in quotes
    ('"foo"="bar"', [("foo", "=", "bar")]),  # equals without braces in quotes
    ('"foo"="bar",', [("foo", "=", "bar")]),  # equals without braces in quotes with trailing comma
    ("{foo=bar,bar!=baz}", [("foo", "=", "bar"), ("bar", "!=", "baz")]),  # complex
    ('{foo="bar",bar!="baz"}', [("foo", "=", "bar"), ("bar", "!=", "baz")]),  # complex in quotes
    ("foo=bar,bar!=baz", [("foo", "=", "bar"), ("bar", "!=", "baz")]),  # complex without braces
    ('foo="bar",bar!="baz"', [("foo", "=", "bar"), ("bar", "!=", "baz")]),  # complex without braces in quotes
    (",", Err("0:1: unexpected ,: expected label name")),  # comma
    ("{,}", Err("1:2: unexpected ,: expected label name")),  # comma in braces
    ("{", Err("0:1: end of input: expected close brace")),  # open brace
    ("}", Err("0:1: }: expected opening brace")),  # close brace
    ("foo=bar}", Err("0:8: }: expected opening brace")),  # no open brace
    ("{foo=bar", Err("0:8: end of input: expected close brace")),  # no close brace
    (
        '{foo=:"bar"}',
        Err('6:11: unexpected "bar": expected a comma or close brace'),
    ),  # invalid input after operator and before quotes
    ('{foo="bar\\w"}', Err('5:12: "bar\\w": invalid input')),  # invalid escape sequence
    ('{"foo"=~"\\d+"}', Err('8:13: "\\d+": invalid input')),  # invalid escape sequence regex digits
    ("{foo=bar\\n}", Err("8:9: \\: invalid input: expected a comma or close brace")),  # no unquoted escape sequences
    ('{"foo"="\\xf0\\x9f"}', Err('7:17: "\\xf0\\x9f": invalid input')),  # invalid unicode
]

UTF8_MATCHER = [
    ("{foo=bar}", ("foo", "=", "bar")),  # equals
    ("{foo=bar,}", ("foo", "=", "bar")),  # equals with trailing comma
    ("{foo!=bar}", ("foo", "!=", "bar")),  # not equals
    ("{foo=~[a-z]+}", ("foo", "=~", "[a-z]+")),  # match regex
    ("{foo!~[a-z]+}", ("foo", "!~", "[a-z]+")),  # doesn't match regex
    ("{foo=🙂}", ("foo", "=", "🙂")),  # equals unicode emoji
    ('{"foo"="\\xf0\\x9f\\x99\\x82"}', ("foo", "=", "🙂")),  # equals unicode emoji as bytes in quotes
    ('{"foo"="\\U0001f642"}', ("foo", "=", "🙂")),  # equals unicode emoji as code points in quotes
    ("{foo=🙂bar}", ("foo", "=", "🙂bar")),  # equals unicode sentence
    ("foo=bar", ("foo", "=", "bar")),  # equals without braces
    ("foo=bar,", ("foo", "=", "bar")),  # equals without braces but with trailing comma
    ("foo!=bar", ("foo", "!=", "bar")),  # not equals without braces
    ("foo=~[a-z]+", ("foo", "=~", "[a-z]+")),  # match regex without braces
    ("foo!~[a-z]+", ("foo", "!~", "[a-z]+")),  # doesn't match regex without braces
    ('{"foo"="bar"}', ("foo", "=", "bar")),  # equals in quotes
    ('{"foo"="bar",}', ("foo", "=", "bar")),  # equals in quotes and with trailing comma
    ('{"foo"!="bar"}', ("foo", "!=", "bar")),  # not equals in quotes
    ('{"foo"=~"[a-z]+"}', ("foo", "=~", "[a-z]+")),  # match regex in quotes
    ('{"foo"!~"[a-z]+"}', ("foo", "!~", "[a-z]+")),  # doesn't match regex in quotes
    ('{"foo"="🙂"}', ("foo", "=", "🙂")),  # equals unicode emoji in quotes
    ('{"foo"="🙂bar"}', ("foo", "=", "🙂bar")),  # equals unicode sentence in quotes
    ('{"foo"="bar\\n"}', ("foo", "=", "bar\n")),  # equals with newline in quotes
    ('{"foo"="bar\\t"}', ("foo", "=", "bar\t")),  # equals with tab in quotes
    ('{"foo"="\\"bar\\""}', ("foo", "=", '"bar"')),  # equals with escaped quotes in quotes
    ('{"foo"="bar\\\\"}', ("foo", "=", "bar\\")),  # equals with escaped backslash in quotes
    ('"foo"="bar"', ("foo", "=", "bar")),  # equals without braces in quotes
    ('"foo"="bar",', ("foo", "=", "bar")),  # equals without braces in quotes with trailing comma
    ("", Err("no matchers")),  # no input
    ("{}", Err("no matchers")),  # open and closing braces
    ("foo=bar,bar=baz", Err("expected 1 matcher, found 2")),  # two or more returns error
    ('foo="\\xf0\\x9f"', Err('4:14: "\\xf0\\x9f": invalid input')),  # invalid unicode
]

FALLBACK_MATCHER = [
    ("foo=bar", ("foo", "=", "bar")),  # input is accepted
    ("foo!bar", Err("bad matcher format: foo!bar")),  # input is accepted in neither
    ("foo🙂=bar", ("foo🙂", "=", "bar")),  # input is accepted in matchers/parse but not pkg/labels
    ("foo=!bar\\n", ("foo", "=", "!bar\n")),  # input is accepted in pkg/labels but not matchers/parse
    ('foo="\\xf0\\x9f\\x99\\x82"', ("foo", "=", "\\xf0\\x9f\\x99\\x82")),  # input causes disagreement
]

FALLBACK_MATCHERS = [
    ("{foo=bar,bar=baz}", [("foo", "=", "bar"), ("bar", "=", "baz")]),  # input is accepted
    ("{foo!bar}", Err("bad matcher format: foo!bar")),  # input is accepted in neither
    (
        "{foo🙂=bar,bar=baz🙂}",
        [("foo🙂", "=", "bar"), ("bar", "=", "baz🙂")],
    ),  # input is accepted in matchers/parse but not pkg/labels
    (
        "{foo=!bar,bar=$baz\\n}",
        [("foo", "=", "!bar"), ("bar", "=", "$baz\n")],
    ),  # is accepted in pkg/labels but not matchers/parse
    ('{foo="\\xf0\\x9f\\x99\\x82"}', [("foo", "=", "\\xf0\\x9f\\x99\\x82")]),  # input causes disagreement
]


def check(parse_fn, text, want):
    if isinstance(want, Err):
        with pytest.raises(MatcherError) as exc:
            parse_fn(text)
        assert str(exc.value) == want
    else:
        assert parse_fn(text) == want


PARSERS = {
    "classic": (classic_matchers, CLASSIC_MATCHERS),
    "utf8": (utf8_matchers, UTF8_MATCHERS),
    "utf8-one": (utf8_matcher, UTF8_MATCHER),
    "fallback-one": (fallback_matcher, FALLBACK_MATCHER),
    "fallback": (fallback_matchers, FALLBACK_MATCHERS),
}


@pytest.mark.parametrize(
    "parser,text,want", [(name, text, want) for name, (_, table) in PARSERS.items() for text, want in table]
)
def test_each_parser_on_its_table(parser, text, want):
    check(PARSERS[parser][0], text, want)


# ----------------------------------------------------------- regressions: the old parser got these wrong

ALERTS = """\
route:
  receiver: everything
  routes:
    - {{matchers: [{item}], receiver: everything}}
receivers:
  - name: everything
    console_configs: [{{}}]
inhibit_rules:
  - source_matchers: ['{{severity="critical"}}']
    target_matchers: ['severity="warning"']
"""
RULES = """\
rules:
  - name: spike
    kind: spike
    match:
      matchers: [{item}]
"""


def triples(matchers):
    return [(m.name, m.op, m.value) for m in matchers]


def test_braces_are_accepted_in_config_lists():
    cfg = parse(ALERTS.format(item="""'{app_id="doubao", country=~"cn|us"}'"""), AlertsConfig)
    assert triples(cfg.route.routes[0].matchers) == [("app_id", "=", "doubao"), ("country", "=~", "cn|us")]
    assert triples(cfg.inhibit_rules[0].source_matchers) == [("severity", "=", "critical")]
    ruleset = parse(RULES.format(item="""'{metric="downloads"}'"""), RuleSet)
    assert triples(ruleset.rules[0].match.matchers) == [("metric", "=", "downloads")]


def test_commas_separate_matchers():
    assert triples(parse_matchers("foo=bar,dings!=bums")) == [("foo", "=", "bar"), ("dings", "!=", "bums")]
    cfg = parse(ALERTS.format(item="'foo=bar,dings!=bums', 'x=\"a,b\"'"), AlertsConfig)
    assert triples(cfg.route.routes[0].matchers) == [("foo", "=", "bar"), ("dings", "!=", "bums"), ("x", "=", "a,b")]


@pytest.mark.parametrize(
    "model,text,line,field",
    [
        (AlertsConfig, ALERTS, 4, "route.routes[0].matchers[1]"),
        (RuleSet, RULES, 5, "rules[0](spike).match.matchers[1]"),
    ],
)
def test_an_unbalanced_quote_is_an_error_at_load_time_naming_the_line(model, text, line, field):
    with pytest.raises(ConfigError) as exc:
        parse(text.format(item="""'app_id="doubao"', 'job="value'"""), model, "c.yaml")
    assert str(exc.value) == (
        f"""c.yaml:{line}: {field}: Value error, bad matcher 'job="value': """
        """matcher value contains unescaped double quote: "value"""
    )


def test_in_a_block_list_the_error_names_the_bad_item_and_its_line():
    text = RULES.replace("matchers: [{item}]", 'matchers:\n        - app_id="doubao"\n        - \'job="value\'')
    with pytest.raises(
        ConfigError,
        match=r"^c.yaml:7: rules\[0\]\(spike\).match.matchers\[1\]: Value error, "
        r"bad matcher 'job=\"value'",
    ):
        parse(text, RuleSet, "c.yaml")


def test_a_matcher_the_utf8_parser_refuses_too_reports_the_classic_error():
    with pytest.raises(
        ConfigError,
        match=r"^c.yaml:4: route.routes\[0\].matchers\[0\]: Value error, bad matcher "
        r"'foo!bar': bad matcher format: foo!bar$",
    ):
        parse(ALERTS.format(item="'foo!bar'"), AlertsConfig, "c.yaml")


@pytest.mark.parametrize(
    "text,value",
    [
        (r'x="a \"quoted\" word"', 'a "quoted" word'),
        (r'x="back\\slash"', "back\\slash"),
        (r'x="two\nlines"', "two\nlines"),
        (r'x="\d+"', r"\d+"),  # classic: any other \ is literal (the UTF-8 parser refuses \d)
        (r'"x"="tab\there"', "tab\there"),  # a quoted name: the UTF-8 parser, Go escapes
        (r'"x"="\u8c46\u5305"', "豆包"),
    ],
)
def test_escapes_are_decoded(text, value):
    (m,) = parse_matchers(text)
    assert (m.name, m.value) == ("x", value)


@pytest.mark.parametrize(
    "text,name",
    [
        ('Severity="critical"', "Severity"),
        ('app_id2="doubao"', "app_id2"),
        ('__meta:app="x"', "__meta:app"),
        ('"服务"="豆包"', "服务"),
        ('"app id"="doubao"', "app id"),
        ("服务=豆包", "服务"),
    ],
)
def test_names_with_uppercase_digits_colons_and_utf8(text, name):
    (m,) = parse_matchers(text)
    assert m.name == name
    assert Matcher.parse(text).name == name


def test_one_matcher_for_the_cli():
    """amtool parses each matcher argument alone (compat.Matcher): no braces, no commas."""
    assert triples([Matcher.parse('app_id="kimi"')]) == [("app_id", "=", "kimi")]
    assert triples([Matcher.parse("foo=bar,dings!=bums")]) == [("foo", "=", "bar,dings!=bums")]  # classic: one value
    with pytest.raises(MatcherError, match=r"^bad matcher '\{app_id=\"kimi\"\}': unexpected open or close brace"):
        Matcher.parse('{app_id="kimi"}')
    with pytest.raises(ValidationError, match="bad matcher 'job=\"value'"):  # how the CLI builds them
        Matcher.model_validate('job="value')
    assert Matcher.model_validate('job=~"a|b"') == Matcher(name="job", op="=~", value="a|b")


def test_regex_checks_still_apply_to_every_matcher():
    with pytest.raises(ValueError, match=r"^unsafe regex in '\{\"app\"=~\"\(a\+\)\+\"\}': "):
        parse_matchers('{"app"=~"(a+)+"}')
    with pytest.raises(MatcherError, match=r"^bad matcher 'x=~\"\(\"': error parsing regexp: missing closing \)"):
        parse_matchers('x=~"("')
    with pytest.raises(ValueError, match="POSIX classes"):
        parse_matchers('x=~"[[:alpha:]]+"')
    with pytest.raises(ValueError, match="not RE2 syntax"):
        parse_matchers('x=~"a*+"')
    m = parse_matchers('x=~"dou.*"')[0]
    assert m.matches("doubao") and not m.matches("xdoubao")  # anchored


def test_a_list_may_mix_strings_dicts_and_matchers():
    from pydantic import TypeAdapter

    given = ['a="1",b="2"', {"name": "c", "op": "!=", "value": "3"}, Matcher(name="d", op="=", value="4")]
    assert triples(TypeAdapter(Matchers).validate_python(given)) == [
        ("a", "=", "1"),
        ("b", "=", "2"),
        ("c", "!=", "3"),
        ("d", "=", "4"),
    ]


def test_silences_accept_the_syntax_and_print_it_back():
    sil = Silence(
        matchers=['{app_id=~"kimi|doubao", "服 务"!="a\\"b"}', 'note="two\\nlines"'],
        ends_at=2e9,
        created_by="a",
        comment="c",
    )
    printed = dump_matchers(sil)
    assert printed == r'app_id=~"kimi|doubao", "服 务"!="a\"b", note="two\nlines"'
    assert parse_matchers(printed) == list(sil.matchers)  # it parses back to the same matchers
    again = Silence.model_validate_json(sil.to_json())
    assert again.matchers == sil.matchers


@pytest.mark.parametrize(
    "m",
    [
        Matcher(name="a", op="=", value='quote " backslash \\ newline \n tab \t'),
        Matcher(name="a b", op="!~", value='x\\d+"\n\x00\x7f\u2028🙂'),
        Matcher(name="豆包", op="=", value=""),
        Matcher(name="a,b", op="=", value="{}"),
    ],
)
def test_printed_matchers_parse_back(m):
    assert parse_matchers(str(m)) == [m]
    assert Matcher.parse(str(m)) == m


def test_go_quote_and_unquote():
    assert go_quote('a"b\\c\n\x01\x7f\u00a0🙂') == r'"a\"b\\c\n\x01\x7f\u00a0🙂"'
    assert go_unquote(r'"\a\b\f\n\r\t\v\\\"\x41\101\u00e9\U0001F642"') == '\a\b\f\n\r\t\v\\"AAé🙂'
    for bad in [r'"\'"', '"a\nb"', r'"\xf0"', r'"\ud800"', r'"\400"', r'"\x4"', '"a" ', '"a', r'"a\"']:
        with pytest.raises(MatcherError):
            go_unquote(bad)


def test_long_input_parses_in_linear_time():
    t0 = time.perf_counter()
    value = "x" + " " * 50_000 + "y"
    assert parse_matchers(f"a={value}   ")[0].value == value  # Go's (.*?)\s*$ is quadratic in re
    with pytest.raises(MatcherError):
        parse_matchers("a=b, " + "c " * 50_000)
    assert time.perf_counter() - t0 < 2.0
