"""The connectors YAML: valid instances, and errors that name file, line and field."""

from __future__ import annotations

import pytest

from connectors import config
from connectors.apple_charts import AppleChartsParams
from connectors.registry import KINDS
from core.yamlfile import ConfigError

GOOD = """\
connectors:
  - name: apple-cn
    kind: apple_charts
    interval: 1h
    params:
      countries: [cn, US]
      charts: [top-free]
  - name: ratings
    kind: itunes_lookup
    interval: 15m
    jitter: 0
    params: {apps: [doubao, kimi], ids: [6480446430]}
"""


def test_valid_config(tmp_path):
    f = tmp_path / "connectors.yaml"
    f.write_text(GOOD, encoding="utf-8")
    apple, ratings = config.load(f)
    assert (apple.name, apple.kind, apple.interval, apple.jitter) == ("apple-cn", "apple_charts", 3600, 0.1)
    assert isinstance(apple.params, AppleChartsParams)
    assert apple.params.countries == ["cn", "us"] and apple.params.limit == 100
    assert (ratings.interval, ratings.jitter, ratings.params.ids) == (900, 0, ["6480446430"])


def errors_of(tmp_path, text: str) -> tuple[str, str]:
    f = tmp_path / "connectors.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        config.load(f)
    return str(f), str(err.value)


def test_errors_name_file_line_and_field(tmp_path):
    f, msg = errors_of(
        tmp_path,
        """\
connectors:
  - name: apple-cn
    kind: apple_charts
    params:
      countries: [cn, usa]
      charts: [top-free, top-grossing]
      limit: 500
  - name: ratings
    kind: itunes_lookup
    intervall: 15m
    params:
      apps: [doubao, deepseek]
  - name: play
    kind: no_such_source
  - name: Bad Name
    kind: itunes_lookup
    interval: soon
""",
    )
    lines = msg.splitlines()
    assert f"{f}:5: connectors[0](apple-cn).params.countries[1]: String should match pattern" in lines[0]
    assert any(
        ln.startswith(f"{f}:6: connectors[0](apple-cn).params.charts[1]: Input should be 'top-free' or 'top-paid'")
        for ln in lines
    )
    assert any(ln.startswith(f"{f}:7: connectors[0](apple-cn).params.limit: ") for ln in lines)
    assert any(ln.startswith(f"{f}:10: connectors[1](ratings).intervall: Extra inputs") for ln in lines)
    assert any(ln.startswith(f"{f}:12: connectors[1](ratings).params.apps: ") and "'deepseek'" in ln for ln in lines)
    known = ", ".join(sorted(KINDS))  # every registered kind, whoever adds one
    assert (
        f"{f}:14: connectors[2](play).kind: Value error, unknown connector kind "
        f"'no_such_source' (known: {known})" in lines
    )
    assert any(ln.startswith(f"{f}:15: connectors[3](Bad Name).name: ") for ln in lines)
    assert any(ln.startswith(f"{f}:17: connectors[3](Bad Name).interval: ") for ln in lines)
    assert any(ln.startswith(f"{f}:15: connectors[3](Bad Name).params: Value error, give ids") for ln in lines)


def test_the_kinds_are_read_only():
    with pytest.raises(TypeError, match="does not support item assignment"):
        KINDS["extra"] = object  # type: ignore[index]
    assert "extra" not in KINDS and KINDS["download_estimates"].kind == "download_estimates"


def test_duplicate_names(tmp_path):
    f, msg = errors_of(tmp_path, "connectors:\n  - {name: a, kind: apple_charts}\n  - {name: a, kind: apple_charts}\n")
    assert msg == f"{f}:2: connectors: Value error, duplicate connector names: a"


def test_missing_kind_and_empty_file(tmp_path):
    f, msg = errors_of(tmp_path, "connectors:\n  - name: a\n    interval: 5\n")
    assert msg.startswith(f"{f}:2: connectors[0](a).kind: Field required")
    f, msg = errors_of(tmp_path, "# nothing yet\n")
    assert msg == f"{f}: connectors: Field required"


def test_not_yaml_and_unreadable(tmp_path):
    f, msg = errors_of(tmp_path, "connectors:\n  - name: [a\n")
    assert msg.startswith(f"{f}:3: not valid YAML")
    with pytest.raises(ConfigError, match="nope.yaml: cannot read"):
        config.load(tmp_path / "nope.yaml")


def test_the_shipped_example_is_valid():
    from importlib import resources

    ref = resources.files("connectors").joinpath("example.yaml")
    names = [i.name for i in config.parse(ref.read_text(encoding="utf-8"), str(ref))]
    assert {"apple-charts", "ios-ratings", "news-feeds", "hn-china-ai"} <= set(names)
    assert len(names) == len(set(names))


def test_a_bare_list_is_refused_saying_what_to_write():
    """Regression: a bare list (as the README once showed) failed with "(top): Input should be
    a valid dictionary or instance of Config", which said nothing about the missing key."""
    with pytest.raises(ConfigError) as exc:
        config.parse("- name: apple\n  kind: apple_charts\n", "c.yaml")
    msg = str(exc.value)
    assert msg.startswith("c.yaml:1: (top): ") and "top-level `connectors:` key" in msg
