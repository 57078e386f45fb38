"""The pages of docs/ say what the code does.

- every YAML example of docs/config/ loads with the real loader (rules, alerts config and
  its receivers, connectors, catalog, alias table), and the shipped examples are shown as
  they are;
- every event example of docs/events.md validates, and every field of every model is
  documented (events, alerts, rules, the alerts config, connectors, catalog, aliases);
- the alert, webhook, Slack, Alertmanager and console examples of docs/alerts.md are what
  the code sends for that alert, and the receiver example verifies and dedups;
- every APPWATCH_* setting is in docs/config/worker.md with its default, and nothing else;
- every topic is in docs/topics.md, with the partitions and cleanup appwatch creates it with;
- links and repo paths resolve, and no page names a registry host or a file outside the repo.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import os
import re
import shlex
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
CONFIG = DOCS / "config"
PAGES = sorted(DOCS.rglob("*.md")) + [ROOT / "README.md"]


def read(page: str) -> str:
    return (DOCS / page).read_text(encoding="utf-8")


def blocks(text: str, lang: str) -> list[str]:
    """The fenced code blocks of ``text`` whose info string is ``lang``."""
    return [
        m.group(2) for m in re.finditer(r"^```(\S*)[^\n]*\n(.*?)^```[ \t]*$", text, re.M | re.S) if m.group(1) == lang
    ]


def prose(text: str) -> str:
    """``text`` without fenced code blocks and inline code spans."""
    text = re.sub(r"^```.*?^```[ \t]*$", "", text, flags=re.M | re.S)
    return re.sub(r"(`+)(?:(?!\1).)+?\1", "", text, flags=re.S)


def tables(text: str) -> list[dict[str, str]]:
    """The rows of every Markdown table of ``text``, as {header: cell}."""
    rows = []
    for table in re.findall(r"(?:^\|.*\|[ \t]*\n?)+", text, re.M):
        lines = [re.split(r"(?<!\\)\|", line.strip())[1:-1] for line in table.strip().splitlines()]
        header = [c.strip() for c in lines[0]]
        rows += [dict(zip(header, (c.strip() for c in line), strict=False)) for line in lines[2:]]
    return rows


def documented(text: str, names) -> list[str]:
    """The ``names`` that ``text`` never shows as code (`name`): those are missing."""
    return sorted(n for n in names if f"`{n}`" not in text and f"`{n}:" not in text)


def field_names(model) -> set[str]:
    return {f.alias or name for name, f in model.model_fields.items()}


# -- docs/config: every YAML example loads with the real loader ----------------------------


def _rules(text: str, tmp_path: Path, monkeypatch) -> None:
    from streams import rules

    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    assert rules.load(path).rules


def _alerts(text: str, tmp_path: Path, monkeypatch) -> None:
    """Load as the worker does: the config, then every receiver's notifiers, which read the
    secrets the file names and check every URL with the SSRF guard."""
    from alerts.config import AlertsConfig
    from alerts.pipeline import build
    from core import yamlfile

    cfg = yamlfile.parse(text, AlertsConfig, "<docs/config/alerts.md>")
    values = {
        "secret_env": "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY",
        "url_env": "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
        "routing_key_env": "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12",
    }
    for r in cfg.receivers:
        for key, value in values.items():
            for c in [*r.webhook_configs, *r.slack_configs, *r.pagerduty_configs]:
                if getattr(c, key, None):
                    monkeypatch.setenv(getattr(c, key), value)
    for r in cfg.receivers:
        notifiers = build(r, list(cfg.allow_hosts))
        assert len(notifiers) == sum(len(v) for k, v in r if k.endswith("_configs"))
        for n in notifiers:
            if hasattr(n, "aclose"):
                asyncio.run(n.aclose())


def _connectors(text: str, tmp_path: Path, monkeypatch) -> None:
    from connectors import config

    assert config.parse(text, "<docs/config/connectors.md>", env={})


def _catalog(text: str, tmp_path: Path, monkeypatch) -> None:
    from connectors import catalog
    from streams import enrich

    path = tmp_path / "file.yaml"
    path.write_text(text, encoding="utf-8")
    if text.startswith("apps:"):
        shown = catalog.load(path).apps
        assert shown and all(catalog.shipped().get(a) == app for a, app in shown.items()), (
            "the catalog example shows apps as the shipped catalog has them"
        )
    else:
        assert enrich.load(path).companies


LOADERS = {"rules.md": _rules, "alerts.md": _alerts, "connectors.md": _connectors, "catalog.md": _catalog}
YAML = [(p.name, i, b) for p in sorted(CONFIG.glob("*.md")) for i, b in enumerate(blocks(p.read_text("utf-8"), "yaml"))]


@pytest.mark.parametrize("page,index,text", YAML, ids=[f"{p}[{i}]" for p, i, _ in YAML])
def test_every_yaml_example_loads_with_the_real_loader(page, index, text, tmp_path, monkeypatch):
    assert page in LOADERS, f"docs/config/{page} has a YAML block, but no loader is known for it"
    LOADERS[page](text, tmp_path, monkeypatch)


def test_each_config_file_page_has_a_complete_example():
    assert {p for p, _, _ in YAML} == set(LOADERS)
    assert blocks(read("config/worker.md"), "bash")


def demo_routes():
    """The demo's alerts config: its ``ROUTES`` text, or what its ``routes()`` builds."""
    from alerts.config import AlertsConfig
    from core import yamlfile

    tree = ast.parse((ROOT / "appwatch/demo.py").read_text("utf-8"))
    text = next(
        (
            n.value.value
            for n in tree.body
            if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "ROUTES" for t in n.targets)
        ),
        None,
    )
    if text is not None:
        return yamlfile.parse(text, AlertsConfig, "<demo routes>")
    from appwatch import demo

    return demo.routes("https://hooks.example.com/appwatch", True)


def test_the_shipped_examples_are_shown_as_they_are():
    from alerts.config import AlertsConfig
    from core import yamlfile

    alerts = blocks(read("config/alerts.md"), "yaml")
    assert (ROOT / "deploy/alerts/alerts.example.yaml").read_text("utf-8") in alerts
    shown = [yamlfile.parse(b, AlertsConfig) for b in alerts]
    demo = demo_routes()
    assert any(
        c.route == demo.route
        and [r.name for r in c.receivers] == [r.name for r in demo.receivers]
        and c.inhibit_rules == demo.inhibit_rules
        for c in shown
    ), "the demo's routes (appwatch/demo.py)"
    assert (ROOT / "connectors/example.yaml").read_text("utf-8") in blocks(read("config/connectors.md"), "yaml")


def test_every_rules_field_and_param_is_documented():
    from streams.detectors import change, deadman, milestone, news_match, rank, spike, threshold
    from streams.rules import Match, SpikeRule

    text = read("config/rules.md")
    names = field_names(SpikeRule) | field_names(Match)
    for model in (
        spike.SpikeParams,
        change.ChangeParams,
        threshold.ThresholdParams,
        milestone.MilestoneParams,
        rank.RankParams,
        news_match.NewsMatchParams,
        deadman.DeadmanParams,
    ):
        names |= field_names(model)
    kinds = {"spike", "change", "threshold", "milestone", "rank", "news_match", "deadman"}
    assert documented(text, names | kinds) == []


def test_every_alerts_config_field_is_documented():
    from alerts import config
    from alerts.route import InhibitRule, Route

    names: set[str] = set()
    for model in (
        config.AlertsConfig,
        config.Global,
        Route,
        InhibitRule,
        config.Receiver,
        config.WebhookConfig,
        config.SlackConfig,
        config.AlertmanagerConfig,
        config.PagerDutyConfig,
        config.JsonlConfig,
    ):
        names |= field_names(model)
    assert documented(read("config/alerts.md"), names) == []


def test_every_connector_kind_and_param_is_documented():
    from connectors.config import Instance
    from connectors.registry import KINDS

    names = field_names(Instance) | set(KINDS)
    for cls in KINDS.values():
        names |= field_names(cls.Params)
    assert documented(read("config/connectors.md"), names) == []


def test_every_catalog_and_alias_table_field_is_documented():
    from connectors.catalog import App, CatalogFile
    from streams import enrich

    names = field_names(CatalogFile) | field_names(App)
    for model in (enrich.AliasTable, enrich.Company, enrich.Person, enrich.KindWords, enrich.NameRules):
        names |= field_names(model)
    assert documented(read("config/catalog.md"), names) == []


# -- docs/config/worker.md: the settings ------------------------------------------------------


def settings_vars() -> dict[str, str]:
    from streams.settings import Settings

    return {f"APPWATCH_{name.upper()}": name for name in Settings.model_fields}


def read_in_code(var: str) -> bool:
    """An APPWATCH_* variable the code reads itself, outside ``Settings``."""
    for top in ("appwatch", "streams", "alerts", "core", "connectors"):
        for path in (ROOT / top).rglob("*.py"):
            if f'"{var}"' in path.read_text("utf-8"):
                return True
    return False


def test_every_setting_is_documented_and_nothing_else():
    text = read("config/worker.md")
    named = set(re.findall(r"APPWATCH_[A-Z0-9_]*[A-Z0-9]", text))
    assert sorted(set(settings_vars()) - named) == [], "settings missing from docs/config/worker.md"
    unknown = sorted(v for v in named - set(settings_vars()) if not read_in_code(v))
    assert unknown == [], "docs/config/worker.md names variables that nothing reads"


def _clean_env(monkeypatch) -> None:
    for var in [v for v in os.environ if v.startswith("APPWATCH_")]:
        monkeypatch.delenv(var)


def test_the_documented_defaults_are_the_defaults(monkeypatch):
    from streams.settings import Settings

    _clean_env(monkeypatch)
    rows = [
        (row["variable"].strip("`"), row["default"])
        for row in tables(read("config/worker.md"))
        if {"variable", "default"} <= set(row)
    ]
    assert sorted(var for var, _ in rows) == sorted(settings_vars()), "one table row per setting"
    defaults = Settings()
    for var, cell in rows:
        field, cell = settings_vars()[var], cell.strip()
        default = getattr(defaults, field)
        if cell.startswith("unset"):
            assert default is None, var
        elif cell == "empty":
            assert default == [], var
        else:
            value = re.fullmatch(r"`([^`]+)`", cell)
            assert value, f"{var}: the default is `value`, unset or empty, not {cell!r}"
            with monkeypatch.context() as env:
                env.setenv(var, value.group(1))
                assert getattr(Settings(), field) == default, var


def test_the_worker_example_is_valid(monkeypatch):
    from streams.settings import Settings

    _clean_env(monkeypatch)
    (example,) = blocks(read("config/worker.md"), "bash")
    exports = [shlex.split(line)[1] for line in example.splitlines() if line.startswith("export ")]
    assert exports
    for assignment in exports:
        var, _, value = assignment.partition("=")
        assert var in settings_vars(), var
        monkeypatch.setenv(var, value)
    Settings()


# -- docs/events.md ------------------------------------------------------------------------------

EVENTS = [orjson.loads(b) for b in blocks(read("events.md"), "json")]


@pytest.mark.parametrize("example", EVENTS, ids=lambda e: e.get("type"))
def test_every_event_example_validates(example):
    from core.events import decode, validate

    assert validate(example).event_id == example["event_id"]
    assert decode(orjson.dumps(example)).type == example["type"]


def test_there_is_an_example_of_each_event_type_and_every_field_is_documented():
    from core.events import AppMetric, AppRank, News

    assert sorted(e["type"] for e in EVENTS) == ["app.metric", "app.rank", "news"]
    text = read("events.md")
    assert documented(text, field_names(AppMetric) | field_names(AppRank) | field_names(News)) == []


def test_the_events_page_commands_accept_its_examples(tmp_path):
    from typer.testing import CliRunner

    from appwatch.cli import cli

    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in EVENTS))
    result = CliRunner().invoke(cli, ["backtest", "--events", str(path)])
    assert result.exit_code == 0, result.output


# -- docs/alerts.md --------------------------------------------------------------------------------

ALERTS_PAGE = read("alerts.md")
JSON = [orjson.loads(b) for b in blocks(ALERTS_PAGE, "json")]


def example_alert():
    from core.alert import Alert

    (alert,) = [j for j in JSON if isinstance(j, dict) and "alert_id" in j]
    return Alert.model_validate(alert)


def test_the_alert_example_is_an_alert_and_every_field_is_documented():
    from core.alert import Alert, alert_id

    alert = example_alert()
    assert alert.alert_id == alert_id(alert.rule, alert.labels, alert.window_start)
    assert documented(ALERTS_PAGE, field_names(Alert) | set(alert.model_extra)) == []


def test_the_webhook_example_is_what_the_worker_sends_and_its_signature_verifies():
    from standardwebhooks import Webhook

    from alerts.notify.webhook import WebhookNotifier

    (http,) = blocks(ALERTS_PAGE, "http")
    head, body = http.rstrip("\n").split("\n\n")
    headers = dict(line.split(": ", 1) for line in head.splitlines()[1:])
    secret = re.search(r"`(whsec_[A-Za-z0-9+/=]+)`", ALERTS_PAGE).group(1)
    payload = orjson.loads(body)
    assert payload["data"] == example_alert().model_dump(mode="json"), "the webhook carries the alert above"
    when = datetime.fromisoformat(payload["timestamp"])
    expected = Webhook(secret).sign(
        headers["webhook-id"], datetime.fromtimestamp(int(headers["webhook-timestamp"]), UTC), body
    )
    assert headers["webhook-signature"] == expected
    notifier = WebhookNotifier("docs", "https://hooks.example.com/appwatch", secret, clock=when.timestamp)
    try:
        sent, sent_headers = notifier.request(example_alert())
    finally:
        asyncio.run(notifier.aclose())
    assert (sent.decode(), sent_headers) == (body, headers)


def test_the_receiver_example_verifies_and_handles_each_webhook_id_once(monkeypatch):
    from alerts.notify.webhook import WebhookNotifier
    from appwatch.receiver import new_secret

    secret = new_secret()
    monkeypatch.setenv("APPWATCH_WEBHOOK_SECRET", secret)
    (code,) = blocks(ALERTS_PAGE, "python")
    receiver: dict = {"__name__": "docs_receiver_example"}
    exec(compile(code, "docs/alerts.md", "exec"), receiver)
    notifier = WebhookNotifier("docs", "https://hooks.example.com/appwatch", secret)
    try:
        body, headers = notifier.request(example_alert())
    finally:
        asyncio.run(notifier.aclose())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert receiver["handle"](body, headers) == 204
        assert receiver["handle"](body, headers) == 204  # a retry
    assert out.getvalue().count("download-spike") == 1
    assert receiver["handle"](body.replace(b"2281348", b"9281348"), headers) == 401
    assert receiver["handle"](body, {k: v for k, v in headers.items() if k != "webhook-signature"}) == 401


def test_the_slack_example_is_what_slack_gets():
    from alerts.notify import slack

    (message,) = [j for j in JSON if isinstance(j, dict) and "blocks" in j]
    assert message == orjson.loads(orjson.dumps(slack.blocks([example_alert()])))


def test_the_alertmanager_example_is_what_alertmanager_gets():
    from alerts.notify import alertmanager

    (pushed,) = [j for j in JSON if isinstance(j, list)]
    (postable,) = pushed
    (http,) = blocks(ALERTS_PAGE, "http")
    sent = datetime.fromisoformat(orjson.loads(http.rstrip("\n").split("\n\n")[1])["timestamp"])
    base = re.search(r"`generator_url_base: (\S+)`", ALERTS_PAGE).group(1)
    assert pushed == [alertmanager.to_postable(example_alert(), base, now=sent.timestamp())]


def test_the_console_example_is_the_console_line():
    from rich.text import Text

    from alerts.notify.console import line

    (shown,) = blocks(ALERTS_PAGE, "text")
    assert shown.strip() == Text.from_markup(line(example_alert())).plain


# -- docs/topics.md --------------------------------------------------------------------------------


def test_every_topic_has_a_row():
    from core.events import Topics

    topics = Topics()
    names = {getattr(topics, n) for n, v in vars(Topics).items() if isinstance(v, property)}
    names = {n for n in names if isinstance(n, str)}
    rows = {row["topic"] for row in tables(read("topics.md")) if {"topic", "partitions"} <= set(row)}
    assert sorted(n for n in names if f"`{n}`" not in rows) == []


def test_the_documented_partitions_and_cleanup_are_those_appwatch_creates(monkeypatch):
    from appwatch import broker
    from core.events import Topics

    created = {}

    class Admin:
        def __init__(self, **kwargs):
            pass

        def list_topics(self):
            return []

        def create_topics(self, new):
            created.update({t.name: t for t in new})

        def close(self):
            pass

    monkeypatch.setattr(broker, "KafkaAdminClient", Admin)
    broker.create_topics("127.0.0.1:9", Topics(), 7, 3)
    rows = {
        row["topic"].strip("`"): (row["partitions"], row["cleanup"])
        for row in tables(read("topics.md"))
        if {"topic", "partitions", "cleanup"} <= set(row)
    }
    assert set(created) <= set(rows), "a topic appwatch creates has no row"
    for name, topic in created.items():
        parts, cleanup = rows[name]
        assert {"P": 7, "1": 1}.get(parts) == topic.num_partitions, name
        compact = (topic.topic_configs or {}).get("cleanup.policy") == "compact"
        assert (cleanup == "compact") == compact, name


# -- every page -----------------------------------------------------------------------------------


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```[ \t]*$", "", path.read_text("utf-8"), flags=re.M | re.S)
    found: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        base = name = slug(heading)
        n = 0
        while name in found:
            n += 1
            name = f"{base}-{n}"
        found.add(name)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_and_repo_paths_resolve(page):
    text = page.read_text("utf-8")
    broken = []
    for target in re.findall(r"\]\(<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\)", prose(text)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        path, _, anchor = target.partition("#")
        where = page if not path else (ROOT / path.lstrip("/") if path.startswith("/") else page.parent / path)
        where = where.resolve()
        if not where.is_relative_to(ROOT) or not where.exists():
            broken.append(target)
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            broken.append(target)
    named = re.findall(r"`((?:core|streams|alerts|connectors|appwatch|deploy|docs|tests|bench)/[\w./-]*)`", text)
    broken += [f"`{p}`" for p in named if not (ROOT / p).exists()]
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_names_a_registry_host_or_a_file_outside_the_repo(page):
    text = page.read_text("utf-8")
    # built here, so that this file does not hold the names itself
    hosts = [
        a + b
        for a, b in (
            ("pypi", ".org"),
            ("python", "hosted.org"),
            ("registry.", "npmjs.org"),
            ("registry.", "yarnpkg.com"),
            ("deb.", "debian.org"),
            ("security.", "debian.org"),
            ("archive.", "ubuntu.com"),
            ("crates", ".io"),
            ("rubygems", ".org"),
            ("proxy.", "golang.org"),
            ("repo1.", "maven.org"),
            ("conda.", "anaconda.org"),
        )
    ]
    found = [h for h in hosts if h.lower() in text.lower()]
    found += [s for s in ("../", "shared/") if s in text]
    assert found == []
