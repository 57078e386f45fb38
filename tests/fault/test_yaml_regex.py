"""Hostile config: unsafe YAML tags, alias bombs, pathological regexes.

Rules files (``streams.rules.load``) and the alerts routing config
(``core.yamlfile.load(path, AlertsConfig)``) go through ``core.yamlfile``; regex
matchers (rules, routes, inhibitions, silences) through ``core.matchers``. Each
hostile file must be refused with an error naming file and line, fast, and without
executing anything.
"""

from __future__ import annotations

import queue
import random
import subprocess
import sys
import textwrap
import threading
import time

import orjson
import pytest
from pydantic import ValidationError

from alerts.config import AlertsConfig
from alerts.silence import Silence
from core import yamlfile
from core.events import validate
from core.matchers import MAX_MATCH_INPUT, Matcher, check_regex
from core.yamlfile import ConfigError
from streams import rules
from streams.engine import Engine
from tests.fault.strategies import within_bounds

ALERTS_OK = """\
route:
  receiver: everything
  routes:
    - {matchers: ['app_id="doubao"'], receiver: everything}
receivers:
  - name: everything
    console_configs: [{}]
"""
RULES_OK = """\
rules:
  - name: spike
    kind: spike
    match: {type: app.metric, metric: downloads}
"""


def refused(path, model=None, *, seconds: float = 1.0, megabytes: float = 50.0) -> str:
    """Load ``path`` (rules, or ``model``); it must raise ConfigError fast and small. Returns the message."""
    return str(
        within_bounds(
            lambda: rules.load(path) if model is None else yamlfile.load(path, model),
            ConfigError,
            seconds=seconds,
            megabytes=megabytes,
        )
    )


# --------------------------------------------------------------------------- unsafe tags

TAGS = [
    "!!python/object/apply:os.system ['touch {sentinel}']",
    "!!python/object/apply:subprocess.check_output [['touch', '{sentinel}']]",
    "!!python/object/new:subprocess.Popen [['touch', '{sentinel}']]",
    "!!python/name:os.system",
    "!!python/module:os",
    "!!python/object:builtins.object {{}}",
    "!<tag:yaml.org,2002:python/object/apply:os.system> ['touch {sentinel}']",
]


@pytest.mark.parametrize("tag", TAGS, ids=lambda t: t.split()[0][:40])
@pytest.mark.parametrize("kind", ["rules", "alerts"])
def test_unsafe_tags_are_refused_naming_the_line_and_never_run(tmp_path, tag, kind):
    sentinel = tmp_path / "pwned"
    value = tag.format(sentinel=sentinel)
    if kind == "rules":
        text = RULES_OK + f"    summary: {value}\n"
        line, model = 5, None
    else:
        text = ALERTS_OK.replace(
            "receiver: everything\n  routes", f"receiver: everything\n  group_by: {value}\n  routes"
        )
        line, model = 3, AlertsConfig
    path = tmp_path / f"{kind}.yaml"
    path.write_text(text)
    msg = refused(path, model)
    assert msg.startswith(f"{path}:{line}: not valid YAML"), msg
    assert "python/" in msg and "constructor" in msg
    assert not sentinel.exists()


def test_unsafe_tag_at_the_top_and_in_a_list(tmp_path):
    for text, line in [
        ("!!python/object/apply:os.system ['true']\n", 1),
        ("rules:\n  - !!python/object/apply:os.system ['true']\n", 2),
    ]:
        path = tmp_path / "r.yaml"
        path.write_text(text)
        assert refused(path).startswith(f"{path}:{line}: not valid YAML")


# --------------------------------------------------------------------------- alias bombs


def laughs(levels: int) -> str:
    """Nested anchors defined inline: 9 ** levels leaves (a billion for 9)."""

    def define(i: int) -> str:
        if i == 0:
            return "&l0 [" + ", ".join(['"lol"'] * 9) + "]"
        return f"&l{i} [" + define(i - 1) + ", " + ", ".join([f"*l{i - 1}"] * 8) + "]"

    return define(levels - 1)


BOMBS = [
    ("rules", 4, "rules:\n  - name: x\n    kind: spike\n    match: {{app_id: {b}}}\n"),
    ("rules", 4, "rules:\n  - name: x\n    kind: spike\n    labels: {{team: {b}}}\n"),
    ("rules", 4, "rules:\n  - name: x\n    kind: spike\n    match: {{matchers: {b}}}\n"),
    ("rules", 1, "rules: {b}\n"),
    ("rules", 4, "rules:\n  - name: x\n    kind: news_match\n    params: {{keywords: {b}}}\n"),
    ("alerts", 1, "route: {{receiver: a, group_by: {b}}}\nreceivers: [{{name: a}}]\n"),
    (
        "alerts",
        2,
        "route: {{receiver: a}}\nreceivers: [{{name: a, webhook_configs: "
        "[{{url: 'https://x.example/', headers: {{h: {b}}}}}]}}]\n",
    ),
    ("alerts", 2, "route: {{receiver: a}}\nreceivers: {b}\n"),
    (
        "alerts",
        4,
        "route: {{receiver: a}}\nreceivers: [{{name: a}}]\ninhibit_rules:\n"
        "  - {{source_matchers: {b}, target_matchers: []}}\n",
    ),
]


@pytest.mark.parametrize("kind, line, template", BOMBS, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(BOMBS)])
def test_a_billion_laughs_is_refused_fast_naming_the_line(tmp_path, kind, line, template):
    path = tmp_path / f"{kind}.yaml"
    path.write_text(template.format(b=laughs(9)))  # 9^9 = 387M leaves
    msg = refused(path, None if kind == "rules" else AlertsConfig)
    assert msg.startswith(f"{path}:{line}: aliases expand"), msg


def test_an_alias_into_itself_is_refused(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("rules: &a [*a]\n")
    assert refused(path).startswith(f"{path}:1: aliases expand")
    path.write_text("rules:\n  - &r {name: x, kind: spike, labels: {a: *r}}\n")
    assert refused(path).startswith(f"{path}:2: aliases expand")


def test_ordinary_anchors_still_work(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        textwrap.dedent("""\
        rules:
          - name: a
            kind: spike
            labels: &market {team: market, page: "no"}
            match: &downloads {type: app.metric, metric: downloads}
          - name: b
            kind: milestone
            params: {values: [1000000]}
            labels: *market
            match: *downloads
        """)
    )
    loaded = rules.load(path)
    assert [r.labels for r in loaded.rules] == [{"team": "market", "page": "no"}] * 2


def test_a_shorthand_matcher_takes_one_value(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n  - name: x\n    kind: spike\n    match: {app_id: [doubao, kimi]}\n")
    msg = refused(path)
    assert msg.startswith(f"{path}:4: rules[0](x).match: Value error, app_id: a shorthand matcher takes one value")


@pytest.mark.parametrize("item", ["[a]", "{a: 1}", "1", "null"])
def test_a_matcher_that_is_not_a_string_is_a_config_error_not_a_crash(tmp_path, item):
    """It raised TypeError (from re.match on a list) through the loader: the CLI and the
    rules reload, which only catch ConfigError, crashed."""
    path = tmp_path / "r.yaml"
    path.write_text(f"rules:\n  - name: x\n    kind: spike\n    match: {{matchers: [{item}]}}\n")
    msg = refused(path)
    assert msg.startswith(f"{path}:4: rules[0](x).match.matchers"), msg
    alerts = tmp_path / "a.yaml"
    alerts.write_text(ALERTS_OK.replace("""['app_id="doubao"']""", f"[{item}]"))
    assert refused(alerts, AlertsConfig).startswith(f"{alerts}:4: route.routes[0].matchers")


# --------------------------------------------------------------------------- regexes

EXPONENTIAL = [
    "(a+)+$",
    "(a|aa)+$",
    "(a*)*b",
    r"(\w+\s?)+$",
    "(.*a){12}$",
    "^(x+x+)+y$",
    "((ab)*)+$",
    "(a|a?)+$",
    r"(\d+)*x",
    "([a-z]+)*$",
    "(a+){2,}",
    "(?:a+)+",
    "(a|ab|abc)*c$",
]
POLYNOMIAL = [".*a.*a.*a.*b", "a*a*a*a*b", r"\w*\w*\w*x"]
NOT_RE2 = [r"(a)\1", "(?=a)a", "(?!b)a", "(?<=a)b", r"(?P<x>a)(?P=x)", "(a)?(?(1)b|c)"]
SAFE = [
    "cn|us",
    "(cn|us)+",
    "dou.*",
    ".*foo.*",
    "[a-z]+-[0-9]+",
    "(ab|ac)+",
    "(?:a|b)*c",
    "a{2,5}",
    r"\d{4}-\d{2}-\d{2}",
    "(?i)doubao|kimi",
    "[^,]*,[^,]*",
    "豆包|通义",
]


@pytest.mark.parametrize("pattern", EXPONENTIAL + POLYNOMIAL + NOT_RE2)
def test_pathological_regexes_are_refused_at_load_time(tmp_path, pattern):
    with pytest.raises(ValueError, match="unsafe regex"):
        Matcher.parse(f'app_id=~"{pattern}"')
    quoted = orjson.dumps(f'app_id=~"{pattern}"').decode()
    path = tmp_path / "r.yaml"  # rules: file, line, rule and field
    path.write_text(f"rules:\n  - name: x\n    kind: spike\n    match:\n      matchers: [{quoted}]\n")
    msg = refused(path)
    assert msg.startswith(f"{path}:5: rules[0](x).match.matchers[0]: Value error, unsafe regex in "), msg
    alerts = tmp_path / "a.yaml"  # routes and inhibitions
    alerts.write_text(ALERTS_OK.replace("""['app_id="doubao"']""", f"[{quoted}]"))
    assert refused(alerts, AlertsConfig).startswith(
        f"{alerts}:4: route.routes[0].matchers[0]: Value error, unsafe regex"
    )
    path.write_text(
        f"rules:\n  - name: x\n    kind: news_match\n    params:\n      keywords: [{orjson.dumps(pattern).decode()}]\n"
    )
    msg = refused(path)  # news keywords: searched in every news title and summary
    assert msg.startswith(f"{path}:5: rules[0](x).params: Value error, keywords[0]"), msg


@pytest.mark.parametrize("pattern", EXPONENTIAL + NOT_RE2 + ["("])
def test_a_silence_posted_as_json_cannot_smuggle_a_regex(pattern):
    """Silences come back from their topic and from POST /api/v1/silences as JSON objects, not
    strings: the regex checks were only in Matcher.parse, so {"op": "=~", "value": "(a+)+$"}
    (or an invalid regex, a re.error in the dispatch agent) went through."""
    body = {
        "matchers": [{"name": "app_id", "op": "=~", "value": pattern}],
        "ends_at": time.time() + 60,
        "created_by": "x",
        "comment": "y",
    }
    with pytest.raises(ValidationError, match="regex"):
        Silence.model_validate_json(orjson.dumps(body))


@pytest.mark.parametrize("pattern", SAFE)
def test_ordinary_regexes_still_work(pattern):
    m = Matcher.parse(f'x=~"{pattern}"')
    m.matches("doubao")
    Silence.model_validate_json(Silence(matchers=[m], ends_at=time.time() + 60, created_by="a", comment="b").to_json())


ADVERSARIAL = [
    "a" * 50 + "!",
    "ab" * 25 + "!",
    "x" * 49 + "y",
    "a " * 25 + "!",
    "1" * 50 + "x",
    "aaa,bbb," * 6,
    "a" * MAX_MATCH_INPUT * 20 + "!",
]


CHILD = textwrap.dedent("""
    import sys, time, orjson
    from core.matchers import Matcher
    patterns, inputs = orjson.loads(sys.stdin.buffer.read())
    print("ready", flush=True)
    for i, p in enumerate(patterns):
        m = Matcher(name="x", op="=~", value=p)
        for s in inputs:
            print("start", i, flush=True)
            t = time.perf_counter()
            m.matches(s)
            print("time", i, time.perf_counter() - t, flush=True)
    print("done", flush=True)
""")


def timed_in_child(patterns: list[str], inputs: list[str], *, stall: float = 10.0) -> list[tuple[float, str]]:
    """Fullmatch every pattern against every input in a child process (a regex cannot be
    interrupted in-process); fail naming the pattern if one runs over ``stall`` seconds.
    Returns (seconds, pattern) of every match, slowest first."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    proc.stdin.write(orjson.dumps([patterns, inputs]))
    proc.stdin.close()
    times, current = [], None
    try:
        wait = 60.0  # start-up (imports) on a loaded machine
        while True:
            try:
                line = lines.get(timeout=wait).split()
            except queue.Empty:
                pytest.fail(
                    f"regex {patterns[current]!r} ran over {stall}s"
                    if current is not None
                    else "the child did not start"
                )
            wait = stall
            if not line or line[0] == b"done":
                break
            if line[0] == b"start":
                current = int(line[1])
            elif line[0] == b"time":
                times.append((float(line[2]), patterns[int(line[1])]))
    finally:
        proc.kill()
        proc.wait()
    assert len(times) == len(patterns) * len(inputs), "the child stopped early"
    return sorted(times, reverse=True)


def test_accepted_regexes_run_in_bounded_time_on_adversarial_input():
    """Soundness of the load-time check: random regexes from a small grammar; every one it
    accepts fullmatches each adversarial string (50 chars, and a huge one, capped at
    MAX_MATCH_INPUT) within 1 s."""
    r = random.Random(1234)
    atoms = ["a", "b", "x", ".", r"\w", r"\s", "[ab]", "[^,]", ",", "1", r"\d"]
    quants = ["", "", "*", "+", "?", "{2,}", "{1,3}", "*?"]

    def gen(depth: int = 0) -> str:
        parts = []
        for _ in range(r.randint(1, 3)):
            if depth < 2 and r.random() < 0.35:
                inner = "|".join(gen(depth + 1) for _ in range(r.randint(1, 3)))
                parts.append(f"({inner})" + r.choice(quants))
            else:
                parts.append(r.choice(atoms) + r.choice(quants))
        return "".join(parts)

    accepted, refused_ = [], 0
    while len(accepted) < 300:
        p = gen()
        try:
            check_regex(p)
        except ValueError:
            refused_ += 1
            continue
        accepted.append(p)
    assert refused_ > 50  # the grammar does produce the dangerous shapes
    slowest = timed_in_child(accepted + SAFE, ADVERSARIAL)[:3]
    assert slowest[0][0] < 1.0, slowest


def test_the_refused_ones_would_really_hang():
    """The check does not refuse harmless patterns for nothing: plain re on (a+)+$ and 30
    characters runs for minutes (killed after 2 s here)."""
    script = 'import re; re.fullmatch("(a+)+$", "a" * 30 + "!")'
    with pytest.raises(subprocess.TimeoutExpired):
        subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=2)


def test_a_long_value_is_matched_on_its_head_in_bounded_time():
    m = Matcher.parse('summary=~".*a.*b"')  # quadratic: 6 s on 64 KB before the cap
    t0 = time.perf_counter()
    assert not m.matches("a" * 65_000)
    assert m.matches("a" * 10 + "b")
    assert time.perf_counter() - t0 < 1.0


def test_news_keywords_on_a_huge_summary_are_bounded():
    ruleset = yamlfile.parse(
        "rules:\n  - {name: n, kind: news_match, params: {keywords: ['hire.*bytedance']}}\n", rules.RuleSet
    )
    engine = Engine(ruleset)
    ev = validate(
        dict(
            event_id="n",
            type="news",
            source="s",
            ts="2024-11-13T10:00:00+08:00",
            url="u",
            title="t",
            summary="hire " * 12_000,
        )
    )
    t0 = time.perf_counter()
    engine.news(ev, {})
    assert time.perf_counter() - t0 < 1.0
