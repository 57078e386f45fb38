"""Alert state across kill -9, inhibition and two workers, on real workers and a real broker.

Each test drives known events, computes the alerts they must give with the detector
code (``streams.backtest``), and records a fault-table row: nothing missing, nothing
duplicated.

Regressions (each failed before alert state moved into the groups table):
* the set of firing alerts lived in memory: after a kill -9 a resolved alert found no
  firing one and its notice was dropped;
* an inhibited alert was dropped at arrival, and its inhibition never ended;
* each worker grouped the alerts its own partitions detected: two workers split a
  group into two notifications.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from kafka.partitioner.default import murmur2
from werkzeug import Request, Response

from alerts.notify.webhook import message_id
from connectors.publish import Publisher
from core.events import validate
from core.yamlfile import parse
from streams import backtest
from streams.rules import RuleSet
from tests.conftest import wait_until
from tests.fault.report import Ledger, alert_key, recorder

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

THRESHOLDS = """
rules:
  - name: mau-high
    kind: threshold
    severity: critical
    match: {metric: mau}
    params: {value: 10000000}
  - name: dau-high
    kind: threshold
    match: {metric: dau}
    params: {value: 1000000}
"""
READ = "read-" + "9f8e7d6c5b4a39281706"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def metric(app: str, name: str, value: float, n: int):
    return validate(
        dict(
            event_id=f"{app}:{name}:{n}",
            type="app.metric",
            source="fault",
            ts=(T0 + timedelta(seconds=n)).isoformat(),
            app_id=app,
            platform="all",
            country="cn",
            metric=name,
            value=value,
            period="instant",
        )
    )


def expected(events) -> list:
    """The alerts the detector code finds in ``events``, in order."""
    result = backtest.run((e.to_json() for e in events), parse(THRESHOLDS, RuleSet))
    return result.alerts


def publish(broker, topics, events) -> None:
    with Publisher(broker, topics) as pub:
        pub.send_all(events)
        pub.flush()


def ledger_of(hooks, alerts) -> Ledger:
    """What the webhook receiver got (signatures checked) against the expected alerts."""
    ledger = Ledger({message_id(a) for a in alerts})
    for msg_id, payload in hooks.verified():
        ledger.saw(msg_id, accepted=True, key=alert_key(payload["data"]))
    return ledger


def got(hooks) -> list[tuple[str, str, str]]:
    """(rule, app_id, status) of each request, in arrival order."""
    out = []
    for _, payload in hooks.verified():
        data = payload["data"]
        out.append((data["rule"], data["labels"]["app_id"], data["status"]))
    return out


def test_resolved_notices_survive_kill_9(broker, topics, hooks, start_worker, tmp_path, request):
    rec = recorder(request)
    rules = tmp_path / "rules.yaml"
    rules.write_text(THRESHOLDS)
    env = dict(
        APPWATCH_RULES=str(rules),
        APPWATCH_WEBHOOK_URL=hooks.url,
        APPWATCH_WEBHOOK_SECRET=hooks.secret,
        APPWATCH_CONSOLE="false",
    )
    apps = [f"app{i}" for i in range(6)]
    breach = [metric(app, "dau", 2_000_000, 0) for app in apps]
    recover = [metric(app, "dau", 10_000, 1) for app in apps]
    alerts = expected(breach + recover)
    assert sorted((a.status, a.labels["app_id"]) for a in alerts) == sorted(
        [("firing", app) for app in apps] + [("resolved", app) for app in apps]
    )

    w = start_worker(topics, **env)
    publish(broker, topics, breach)
    hooks.wait(lambda r: len(r) >= len(apps), 60, "the firing notices")
    w.proc.kill()  # right after the deliveries: the hardest moment for the state to be written
    w.proc.wait(10)
    start_worker(topics, **env)
    publish(broker, topics, recover)
    hooks.wait(
        lambda r: sum(s == "resolved" for _, _, s in got(hooks)) >= len(apps),
        90,
        "the resolved notices after the restart",
    )
    ledger = ledger_of(hooks, alerts)
    rec("resolved notices across kill -9", events_in=len(breach + recover), ledger=ledger, receiver="webhook")
    assert (len(ledger.missing_ids), ledger.duplicated, len(ledger.unexpected_ids)) == (0, 0, 0), ledger.row()


def test_inhibition_ends_when_its_source_resolves(broker, topics, hooks, start_worker, tmp_path, request):
    rec = recorder(request)
    rules, config = tmp_path / "rules.yaml", tmp_path / "alerts.yaml"
    rules.write_text(THRESHOLDS)
    config.write_text(f"""\
route: {{receiver: hook, group_by: [rule, app_id], group_wait: 0s, group_interval: 1s}}
receivers:
  - name: hook
    webhook_configs: [{{url: "{hooks.url}", secret_env: APPWATCH_WEBHOOK_SECRET}}]
inhibit_rules:
  - {{source_matchers: ['rule="mau-high"'], target_matchers: ['rule="dau-high"'], equal: [app_id]}}
allow_hosts: [127.0.0.1]
""")
    source_on, target_on, source_off = (
        metric("kimi", "mau", 40_000_000, 0),
        metric("kimi", "dau", 2_000_000, 1),
        metric("kimi", "mau", 5_000_000, 2),
    )
    alerts = expected([source_on, target_on, source_off])
    assert [(a.rule, a.status) for a in alerts] == [
        ("mau-high", "firing"),
        ("dau-high", "firing"),
        ("mau-high", "resolved"),
    ]
    w = start_worker(
        topics,
        APPWATCH_RULES=str(rules),
        APPWATCH_ALERTS_CONFIG=str(config),
        APPWATCH_WEBHOOK_SECRET=hooks.secret,
        APPWATCH_CONSOLE="false",
    )
    publish(broker, topics, [source_on])
    hooks.wait(lambda r: len(r) >= 1, 60, "the source's firing notice")
    publish(broker, topics, [target_on])
    wait_until(lambda: w.metric("appwatch_alerts_inhibited_total") >= 1, 60, "the target inhibited")
    assert got(hooks) == [("mau-high", "kimi", "firing")]  # muted while the source fires
    publish(broker, topics, [source_off])
    hooks.wait(lambda r: len(r) >= 3, 60, "the source's resolved notice, then the target")
    arrived = got(hooks)
    assert arrived.index(("dau-high", "kimi", "firing")) > arrived.index(("mau-high", "kimi", "resolved")), arrived
    ledger = ledger_of(hooks, alerts)
    rec("inhibition that ends when its source resolves", events_in=3, ledger=ledger, receiver="webhook")
    assert (len(ledger.missing_ids), ledger.duplicated, len(ledger.unexpected_ids)) == (0, 0, 0), ledger.row()
    assert w.metric("appwatch_alerts_inhibited_total") == 1  # one alert muted, counted once


class SlackReceiver:
    """A Slack incoming webhook on loopback: answers ``ok`` and keeps each message."""

    def __init__(self, server) -> None:
        self.url = server.url_for("/services/T0/B0/fault")
        self.messages: list[dict] = []
        self.cond = threading.Condition()
        server.expect_request("/services/T0/B0/fault", method="POST").respond_with_handler(self._handle)

    def _handle(self, request: Request) -> Response:
        with self.cond:
            self.messages.append(json.loads(request.get_data()))
            self.cond.notify_all()
        return Response("ok", status=200)

    def apps_in(self, message: dict, apps: list[str]) -> set[str]:
        text = json.dumps(message, ensure_ascii=False)
        return {a for a in apps if f"app_id={a} " in text}  # each alert's context line


def partition_of(app: str, partitions: int = 4) -> int:
    """Where the publisher puts an app's metric events (murmur2 of ``app_id|country``)."""
    return (murmur2(f"{app}|cn".encode()) & 0x7FFFFFFF) % partitions


def owned(w) -> dict:
    return httpx.get(f"{w.url}/healthz", timeout=5).json()["partitions"]


def test_two_workers_send_each_group_once(broker, topics, local_server, start_worker, tmp_path, request):
    rec = recorder(request)
    slack = SlackReceiver(local_server)
    rules, config = tmp_path / "rules.yaml", tmp_path / "alerts.yaml"
    rules.write_text(THRESHOLDS)
    config.write_text("""\
route: {receiver: market, group_by: [rule], group_wait: 5s, group_interval: 1h}
receivers:
  - name: market
    slack_configs: [{url_env: FAULT_SLACK_URL}]
allow_hosts: [127.0.0.1]
""")
    apps, n = [], 0
    while len(apps) < 8:  # two apps on each of the 4 partitions: both workers detect some
        app = f"app{n:03d}"
        if sum(partition_of(a) == partition_of(app) for a in apps) < 2:
            apps.append(app)
        n += 1
    breach = [metric(app, "dau", 2_000_000 + i, 0) for i, app in enumerate(apps)]
    alerts = expected(breach)
    assert len(alerts) == 8 and {a.rule for a in alerts} == {"dau-high"}  # one group: group_by rule

    env = dict(
        APPWATCH_RULES=str(rules),
        APPWATCH_ALERTS_CONFIG=str(config),
        FAULT_SLACK_URL=slack.url,
        APPWATCH_CONSOLE="false",
        APPWATCH_API_READ_TOKENS=READ,
    )
    workers = [start_worker(topics, **env), start_worker(topics, **env)]

    def shared():  # each worker detects on some partitions; together they own all groups
        parts = [owned(w) for w in workers]
        return (
            all(p["detect"] and p["groups"] for p in parts)
            and sorted(p for x in parts for p in x["detect"]) == [0, 1, 2, 3]
            and sorted(p for x in parts for p in x["groups"]) == [0, 1, 2, 3]
        )

    wait_until(shared, 90, "both workers owning partitions of the events and of the groups")
    publish(broker, topics, breach)
    with slack.cond:
        assert slack.cond.wait_for(
            lambda: set().union(*(slack.apps_in(m, apps) for m in slack.messages)) == set(apps), 60
        ), f"all 8 apps in Slack: got {len(slack.messages)} messages"
        messages = list(slack.messages)
    assert all(w.metric("appwatch_state_series") > 0 for w in workers)  # both detected
    per_app = {a: sum(a in slack.apps_in(m, apps) for m in messages) for a in apps}
    rec(
        "two workers, one group: sent once",
        events_in=len(breach),
        receiver="slack",
        alerts_expected=len(alerts),
        delivered=sum(c >= 1 for c in per_app.values()),
        missing=sum(c == 0 for c in per_app.values()),
        duplicated=sum(c > 1 for c in per_app.values()),
        raw_repeats=len(messages) - 1,
    )
    assert len(messages) == 1, f"the group was split or repeated: {len(messages)} messages"

    def sent() -> float:
        return sum(w.metric("appwatch_notifications_total", outcome="sent") for w in workers)

    wait_until(lambda: sent() >= 1, 10, "the Slack delivery counted")
    assert sent() == 1

    # Alertmanager's API: whichever worker answers, each firing alert once
    def firing(w) -> list[str]:
        r = httpx.get(f"{w.url}/api/v2/alerts", headers={"Authorization": f"Bearer {READ}"}, timeout=5)
        assert r.status_code == 200, r.text
        return sorted(a["fingerprint"] for a in r.json())

    ids = sorted(a.alert_id for a in alerts)
    for w in workers:
        wait_until(lambda w=w: firing(w) == ids, 10, "the worker's /api/v2/alerts lists the 8 alerts once each")
