"""The rules file: matchers, kinds, validation with file/line/rule/field."""

import pytest

from core.events import validate
from core.yamlfile import ConfigError, parse
from streams.rules import Match, Matcher, RuleSet, load

EV = validate(
    dict(
        event_id="e",
        type="app.metric",
        source="s",
        ts="2024-11-14T00:00:00+08:00",
        app_id="doubao",
        platform="ios",
        country="cn",
        metric="downloads",
        value=1,
        period="day",
    )
)


@pytest.mark.parametrize(
    "text,expected",
    [
        ('metric="downloads"', True),
        ('metric!="downloads"', False),
        ('country=~"cn|us"', True),
        ('country=~"c"', False),  # anchored, as in Alertmanager
        ('country!~"us|jp"', True),
        ("platform=ios", True),
        ('app_id=~"dou.*"', True),
    ],
)
def test_matchers(text, expected):
    assert Matcher.parse(text).matches(getattr(EV, Matcher.parse(text).name)) is expected


def test_match_shorthand_and_type():
    m = Match.model_validate({"type": "app.metric", "metric": "downloads", "matchers": ['country=~"cn|us"']})
    assert m.matches(EV)
    assert not Match.model_validate({"type": "app.rank"}).matches(EV)
    assert not Match.model_validate({"metric": "dau"}).matches(EV)


def test_default_pack_loads_every_kind():
    kinds = {r.kind for r in load().rules}
    assert kinds == {"spike", "rank", "milestone", "news_match", "deadman"}
    names = [r.name for r in load().rules]
    assert names == [
        "download-spike",
        "rank-top10-entry",
        "rank-number-one",
        "user-milestone",
        "talent-move",
        "org-change",
        "source-stale",
    ]


ALL_KINDS = """
rules:
  - {name: t, kind: threshold, params: {op: below, value: 100, for: 6h}, match: {metric: dau}}
  - {name: s, kind: spike, params: {ratio: null, zscore: 3}}
  - {name: c, kind: change, params: {compare: wow, pct: 50, direction: both}}
  - {name: r, kind: rank, params: {jump: 5}, match: {matchers: ['country=~"cn|us"']}}
  - {name: m, kind: milestone, params: {values: [1e6]}, match: {metric: mau}}
  - {name: d, kind: deadman, params: {for: 6h, per_source: {apple_charts: 2h}}, match: {source: apple_charts}}
  - {name: n, kind: news_match, params: {kinds: [funding], keywords: ["融资|raises"]}}
"""


def test_every_kind_parses():
    rs = parse(ALL_KINDS, RuleSet)
    assert [r.kind for r in rs.rules] == ["threshold", "spike", "change", "rank", "milestone", "deadman", "news_match"]
    assert rs.rules[0].params.for_seconds == 6 * 3600
    assert rs.rules[5].params.limit("apple_charts") == 7200


@pytest.mark.parametrize(
    "yaml_text,message",
    [
        (
            "rules:\n  - name: x\n    kind: spike\n    params:\n      ratio: 0.5\n",
            "<t>:5: rules[0](x).params.ratio: Input should be greater than 1",
        ),
        (
            "rules:\n  - name: x\n    kind: sparkle\n",
            "<t>:3: rules[0](x).kind: Input tag 'sparkle' found using 'kind' does not match",
        ),
        (
            "rules:\n  - name: x\n    kind: rank\n    params: {}\n",
            "rules[0](x).params: Value error, give exactly one of entered_top",
        ),
        (
            "rules:\n  - name: x\n    kind: spike\n    match:\n      matchers: ['country=~\"(\"']\n",
            "<t>:5: rules[0](x).match.matchers[0]: Value error, bad matcher 'country=~\"(\"': error parsing regexp: "
            "missing closing ): `^(?:()$`",
        ),  # Alertmanager's error
        (
            "rules:\n  - name: x\n    kind: spike\n    summary: '{nope}'\n",
            "<t>:4: rules[0](x).summary: Value error, bad summary template",
        ),
        (
            "rules:\n  - name: x\n    kind: spike\n    timezone: Mars/Olympus\n",
            "<t>:4: rules[0](x).timezone: Value error, unknown timezone",
        ),
        (
            "rules:\n  - name: x\n    kind: rank\n    params: {reached: 1}\n    match: {type: news}\n",
            "rules[0](x): Value error, a rank rule matches app.rank events, not news",
        ),
        (
            "rules:\n  - name: x\n    kind: spike\n    summary: '{app_name}: {title}'\n",
            "<t>:2: rules[0](x): Value error, summary: a spike rule does not fill title; it fills app_id",
        ),
        (
            "rules:\n  - name: quiet\n    kind: deadman\n    match: {source: apple-rss, app_id: doubao}\n",
            "<t>:4: rules[0](quiet).match: Value error, a deadman rule matches on type and source only, not on app_id",
        ),
        ("rules:\n  - {name: a, kind: spike}\n  - {name: a, kind: spike}\n", "duplicate rule names: a"),
        ("rules: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
    ],
)
def test_errors_name_file_line_rule_and_field(yaml_text, message):
    with pytest.raises(ConfigError) as exc:
        parse(yaml_text, RuleSet, "<t>")
    assert message in str(exc.value)
