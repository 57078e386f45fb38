"""The alerts API (appwatch/worker/alerts_api.py) without a broker or a web server, and what
it is made of: the firing set's entries (whole alert, recently resolved) and the chart
fields a spike carries (trend, threshold)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import orjson
from prometheus_client import CollectorRegistry

from alerts.config import AlertsConfig
from alerts.metrics import DeliveryMetrics
from alerts.pipeline import RECENT, Pipeline, firing_now
from alerts.silence import Silence
from appwatch.worker.alerts_api import AlertsApi
from appwatch.worker.detect import Detect
from appwatch.worker.dispatch import Firing
from appwatch.worker.silences import Silences
from core import yamlfile
from core.alert import Alert, alert_id
from core.auth import Tokens
from core.events import AppMetric, Topics
from streams import rewind
from streams.detectors import threshold
from streams.engine import Engine
from streams.metrics import StreamMetrics
from streams.rules import RuleSet
from streams.series import SeriesState
from streams.settings import Settings

NOW = 1_731_600_000.0  # 2024-11-14T16:00:00Z
READ, WRITE = "read-token-0123456789abcdef", "write-token-0123456789abcdef"
RULES = """\
rules:
  - name: dau-high
    kind: threshold
    match: {metric: dau}
    params: {value: 1000000, for: 1h}
  - name: download-spike
    kind: spike
    match: {type: app.metric, metric: downloads}
"""
CONFIG = """
route: {receiver: all, group_by: [app_id]}
receivers: [{name: all}]
inhibit_rules:
  - {source_matchers: ['severity="critical"'], target_matchers: ['severity="warning"'], equal: [app_id]}
"""


def spike(app: str, severity: str = "warning", status: str = "firing", resolves: bool = False) -> Alert:
    labels = {"app_id": app, "platform": "all", "country": "cn", "metric": "downloads"}
    return Alert(
        alert_id=alert_id("download-spike", labels, f"{app}-{severity}"),
        rule="download-spike",
        kind="spike",
        status=status,
        severity=severity,
        labels=labels,
        value=2_400_000.0,
        baseline=800_000.0,
        window_start="2024-11-14T00:00:00+08:00",
        event_ts="2024-11-14T00:00:00+08:00",
        summary=f"{app} spiked",
        context=[{"title": "news", "url": "https://example.com/n", "ts": "2024-11-13T00:00:00+08:00"}],
        resolves=resolves,
        trend=[["2024-11-13", 800_000.0], ["2024-11-14", 2_400_000.0]],
        threshold=1_600_000.0,
    )


def pipeline(clock=lambda: NOW) -> Pipeline:
    return Pipeline(yamlfile.parse(CONFIG, AlertsConfig), {}, DeliveryMetrics(CollectorRegistry()), clock=clock)


def setup(tmp_path, *alerts: Alert, silences=()) -> tuple[AlertsApi, SimpleNamespace]:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    p = pipeline()
    for a in alerts:
        p.firing[a.alert_id] = p.firing_entry(a)
    store = Silences(clock=lambda: NOW)
    for s in silences:
        store.apply(s.id.encode(), s.to_json(), 0)
    detect = Detect(Settings(rules=path), Topics("t."), StreamMetrics(CollectorRegistry()), rewind.Checks())
    parts = SimpleNamespace(firing=p.firing, silences=store, pipeline=p, detect=detect, worker="w1:6066")
    return AlertsApi(Tokens(read=(READ,), write=(WRITE,)), parts, clock=lambda: NOW), parts


def ids(answer) -> list[str]:
    return [a["labels"]["app_id"] + ":" + a["status"] for g in answer.body["groups"] for a in g["alerts"]]


def test_a_firing_alert_carries_its_chart_news_and_links(tmp_path):
    a = spike("doubao")
    api, _ = setup(tmp_path, a)
    got = api.get(f"Bearer {READ}", a.alert_id)
    assert got.status == 200
    body = got.body
    assert (body["state"], body["status"], body["value"], body["baseline"], body["threshold"]) == (
        "firing",
        "firing",
        2_400_000.0,
        800_000.0,
        1_600_000.0,
    )
    assert body["trend"] == [["2024-11-13", 800_000.0], ["2024-11-14", 2_400_000.0]]
    assert body["context"][0]["title"] == "news" and body["summary"] == "doubao spiked"
    assert body["links"] == {
        "self": f"/api/v1/alerts/{a.alert_id}",
        "console": f"/alerts/{a.alert_id}",
        "silence": f"/silences/new?alert={a.alert_id}",
    }
    assert body["startsAt"] == a.event_ts and body["endsAt"] is not None and body["resolvedAt"] is None
    assert api.get(f"Bearer {READ}", "nope").status == 404


def test_read_scope_is_needed():
    api = AlertsApi(Tokens(read=(READ,)), SimpleNamespace(), clock=lambda: NOW)
    assert api.list(None, [], [], None).status == 401
    assert api.list("Bearer wrong", [], [], None).status == 401
    assert api.get(None, "x").status == 401


def test_filter_state_and_group_by(tmp_path):
    muted = Silence(matchers=['app_id="kimi"'], starts_at=NOW - 60, ends_at=NOW + 3600, created_by="ana", comment="x")
    api, parts = setup(
        tmp_path,
        spike("doubao"),
        spike("kimi"),
        spike("qwen", "critical"),
        spike("qwen"),
        spike("yuanbao", status="resolved", resolves=True),
        silences=[muted],
    )
    who = f"Bearer {READ}"
    everything = api.list(who, [], [], None)
    assert everything.status == 200 and everything.body["total"] == 4  # resolved only on request
    (group,) = everything.body["groups"]
    assert group["labels"] == {"rule": "download-spike"}
    assert sorted(ids(everything)) == ["doubao:firing", "kimi:silenced", "qwen:firing", "qwen:inhibited"]
    kimi = next(a for g in everything.body["groups"] for a in g["alerts"] if a["labels"]["app_id"] == "kimi")
    assert kimi["silencedBy"] == [muted.id]
    by_app = api.list(who, [], ["firing,silenced"], "app_id,severity").body
    assert [g["labels"] for g in by_app["groups"]] == [
        {"app_id": "doubao", "severity": "warning"},
        {"app_id": "kimi", "severity": "warning"},
        {"app_id": "qwen", "severity": "critical"},
    ]
    assert sorted(ids(api.list(who, ['app_id=~"q.*"'], [], ""))) == ["qwen:firing", "qwen:inhibited"]
    assert sorted(ids(api.list(who, ['{app_id="doubao",severity="warning"}'], [], None))) == ["doubao:firing"]
    assert sorted(ids(api.list(who, [], ["resolved"], None))) == ["yuanbao:resolved"]
    bad = api.list(who, ['app_id=="x'], [], None)
    assert bad.status == 400 and "bad filter" in bad.body["error"]
    assert "state: 'gone'" in api.list(who, [], ["gone"], None).body["error"]


def test_pending_threshold_breaches_come_from_this_worker(tmp_path):
    api, parts = setup(tmp_path)
    parts.detect.stage.stage.state[0] = {
        "x|all|cn|dau": SeriesState(
            rules={"dau-high": threshold.State(since=NOW - 60, due=NOW + 3540, value=1_200_000.0)}
        )
    }
    body = api.list(f"Bearer {READ}", ['rule="dau-high"'], ["pending"], None).body
    (pending,) = [a for g in body["groups"] for a in g["alerts"]]
    labels = {"app_id": "x", "platform": "all", "country": "cn", "metric": "dau"}
    since = datetime.fromtimestamp(NOW - 60, UTC).isoformat()
    assert pending["alert_id"] == alert_id("dau-high", labels, since)  # the id it will fire with
    assert (pending["state"], pending["worker"], pending["value"], pending["threshold"]) == (
        "pending",
        "w1:6066",
        1_200_000.0,
        1_000_000.0,
    )
    assert api.get(f"Bearer {READ}", pending["alert_id"]).body["due"]
    assert api.list(f"Bearer {READ}", [], ["firing"], None).body["total"] == 0


def test_the_firing_set_keeps_the_whole_alert_and_recently_resolved_ones():
    now = [NOW]
    p = pipeline(lambda: now[0])
    a = spike("yuanbao", resolves=True)
    entry = p.firing_entry(a)
    assert entry["alert"] == a.model_dump(mode="json") and firing_now(entry, NOW)
    p.firing[a.alert_id] = entry
    now[0] = NOW + 10
    gone = p.firing_entry(a.model_copy(update={"status": "resolved"}))
    assert gone["resolvedAt"] == NOW + 10 and gone["startsAt"] == a.event_ts and not firing_now(gone, NOW + 10)
    f, clock = Firing(clock=lambda: now[0]), now
    f.apply(b"r", orjson.dumps(gone), 0)
    f.apply(b"one-off", orjson.dumps(pipeline(lambda: now[0]).firing_entry(spike("kimi"))), 1)
    assert set(f) == {"r", "one-off"}
    clock[0] = NOW + 10 + RECENT + Firing.SWEEP_EVERY + 1
    f.apply(b"new", orjson.dumps(pipeline(lambda: now[0]).firing_entry(spike("qwen"))), 2)
    assert "r" not in f and "new" in f  # memory stays bounded
    f.apply(b"old", orjson.dumps(gone), 3)  # an old resolved record read at start-up
    assert "old" not in f


def test_a_spike_fires_with_its_trend_and_the_least_total_that_fires():
    rules = yamlfile.parse(RULES, RuleSet)
    engine, state = Engine(rules), {}
    day = datetime(2024, 11, 1, tzinfo=UTC)
    out = []
    for i in range(10):
        value = 2_400_000.0 if i == 9 else 800_000.0 + i
        ev = AppMetric(
            type="app.metric",
            period="day",
            event_id=f"e{i}",
            ts=day + timedelta(days=i),
            app_id="doubao",
            platform="all",
            country="cn",
            metric="downloads",
            value=value,
            source="test",
        )
        out += engine.process(ev, state)
    (fired,) = out
    assert fired.trend[-1] == ["2024-11-10", 2_400_000.0] and len(fired.trend) == 10
    assert [d for d, _ in fired.trend] == sorted(d for d, _ in fired.trend)
    assert fired.baseline < fired.threshold <= fired.value
