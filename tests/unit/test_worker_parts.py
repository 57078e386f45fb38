"""The worker's parts (appwatch/worker), each without a broker or a web server."""

from __future__ import annotations

import asyncio
import logging

import orjson
from prometheus_client import CollectorRegistry

from alerts.config import AlertsConfig
from alerts.metrics import DeliveryMetrics
from alerts.pipeline import Pipeline
from alerts.silence import Silence
from appwatch.worker.api import Api
from appwatch.worker.base import partition_of
from appwatch.worker.detect import Detect
from appwatch.worker.dispatch import Dispatch, Firing
from appwatch.worker.outbox import Outbox, failed_record
from appwatch.worker.probes import Probes
from appwatch.worker.reload import RulesReload
from appwatch.worker.silences import Silences
from core import yamlfile
from core.alert import Alert, alert_id
from core.auth import Tokens
from core.events import Topics
from core.retry import DeliveryError
from streams import rewind
from streams.metrics import StreamMetrics
from streams.settings import Settings

WRITE, READ = "write-token-0123456789abcdef", "read-token-0123456789abcdef"
NOW = 1_700_000_000.0
CONFIG = """
route:
  receiver: all
  group_by: [app_id]
  routes:
    - {matchers: ['app_id="doubao"'], receiver: desk, continue: true}
receivers: [{name: all}, {name: desk}]
"""


def alert(app="doubao", rule="download-spike") -> Alert:
    labels = {"app_id": app}
    return Alert(
        alert_id=alert_id(rule, labels, "w"),
        rule=rule,
        kind="spike",
        severity="warning",
        labels=labels,
        event_ts="2024-11-14T00:00:00+08:00",
        summary=app,
    )


def silence(**over) -> Silence:
    return Silence(
        **{
            "id": "s1",
            "matchers": ['app_id="doubao"'],
            "starts_at": NOW - 60,
            "ends_at": NOW + 3600,
            "created_by": "ops",
            "comment": "known",
            **over,
        }
    )


class Sent(list):
    """The silences topic: what was sent, read back by the store as the worker's would."""

    store: Silences | None = None

    async def __call__(self, s: Silence) -> None:
        self.append(s)
        if self.store is not None:
            self.store.apply(s.id.encode(), s.to_json(), len(self))


def silences(*items: Silence) -> tuple[Silences, Sent]:
    out, sent = Silences(clock=lambda: NOW), Sent()
    out.send, sent.store = sent, out
    for s in items:
        out.apply(s.id.encode(), s.to_json(), 0)
    return out, sent


def test_silences_apply_keeps_good_records_and_skips_bad_ones(caplog):
    s, _ = silences(silence(), silence(id="old", ends_at=NOW - 1))
    with caplog.at_level(logging.WARNING):
        s.apply(b"x", b'{"matchers": []}', 7)
    assert "offset 7" in caplog.text
    assert sorted(s.by_id) == ["old", "s1"]
    assert [x.id for x in s.active()] == ["s1"] and [x.id for x in s.current()] == ["s1"]
    assert s.muting(alert("doubao")).id == "s1" and s.muting(alert("kimi")) is None
    assert s.ended("s1").ends_at == NOW and s.ended("nope") is None


def test_api_answers_by_scope_and_publishes_what_it_changes():
    s, sent = silences(silence())
    api = Api(Tokens(write=(WRITE,), read=(READ,)), s)

    async def body_of(payload):
        async def body():
            return payload

        return body

    async def go():
        no = api.list(None)
        assert no.status == 401 and "Bearer" in no.headers["WWW-Authenticate"]
        assert api.list(f"Bearer {READ}").body[0]["id"] == "s1"
        assert (await api.add(f"Bearer {READ}", await body_of({}))).status == 403
        bad = await api.add(f"Bearer {WRITE}", await body_of({"matchers": ['app_id="x"'], "ends_at": NOW}))
        assert bad.status == 400 and "created_by" in bad.body["error"]
        good = {"matchers": ['app_id="kimi"'], "ends_at": NOW + 60, "created_by": "me", "comment": "c"}
        added = await api.add(f"Bearer {WRITE}", await body_of(good))
        assert added.status == 201 and sent[-1].id == added.body["id"]
        assert (await api.expire(f"Bearer {WRITE}", "nope")).status == 404
        ended = await api.expire(f"Bearer {WRITE}", "s1")
        assert ended.status == 200 and sent[-1].ends_at == NOW
        assert len(sent) == 2

    asyncio.run(go())


def pipeline(registry: CollectorRegistry) -> Pipeline:
    return Pipeline(
        yamlfile.parse(CONFIG, AlertsConfig),
        {"all": [], "desk": []},
        DeliveryMetrics(registry),
        groups={},
        firing={},
        owns=lambda key: True,
    )


def test_dispatch_routes_to_each_group_and_records_a_silenced_alert_too():
    """As Alertmanager: a silenced alert is listed (firing set) and grouped; the groups
    leave it out of notifications while the silence lasts (test_pipeline_routed)."""
    registry = CollectorRegistry()
    s, _ = silences(silence())
    d = Dispatch(pipeline(CollectorRegistry()), s, DeliveryMetrics(registry))
    muted, muted_groups = d.records(alert("doubao"))
    assert muted[0] == alert("doubao").alert_id.encode() and orjson.loads(muted[1])["labels"]["app_id"] == "doubao"
    assert [key.split(":")[0] for key, _ in muted_groups] == ["desk"]
    assert registry.get_sample_value("appwatch_alerts_silenced_total") == 1
    firing, groups = d.records(alert("kimi"))
    assert firing[0] == alert("kimi").alert_id.encode()
    assert len(groups) == 1 and orjson.loads(groups[0][1])["alert"]["labels"] == {"app_id": "kimi"}
    s.by_id.clear()
    _, desk = d.records(alert("doubao"))
    assert [key.split(":")[0] for key, _ in desk] == ["desk"]  # a matching child takes it from the root
    assert groups[0][0].split(":")[0] == "all"


def test_firing_follows_the_compacted_topic():
    f = Firing()
    f.apply(b"a", orjson.dumps({"labels": {}}), 0)
    f.apply(b"b", orjson.dumps({"labels": {}}), 1)
    f.apply(b"a", None, 2)
    assert list(f) == ["b"]


def test_outbox_owns_the_groups_of_its_partitions_and_dlq_records_say_why():
    o = Outbox(4)
    key = "route/{app_id=doubao}"
    assert not o.owns(key)
    o.assigned([partition_of(key, 4)])
    assert o.owns(key)

    class N:
        name = "desk/webhook/0"

    rec = orjson.loads(failed_record(N(), alert(), DeliveryError("boom", status=400), NOW))
    assert (
        rec["receiver"] == "desk/webhook/0"
        and rec["error"] == "boom"
        and rec["status"] == 400
        and rec["failed_at"] == NOW
    )
    assert rec["alert"]["alert_id"] == alert().alert_id


def test_probes_name_every_reason_until_ready():
    checks = rewind.Checks()
    p = Probes("127.0.0.1:1", checks, clock=lambda: NOW)
    assert p.reasons(stage_ready=False, rebalancing=True) == [
        "not joined or tables recovering",
        "detect stage joining or restoring",
        "rebalancing",
    ]
    p.joined = True
    assert p.reasons(True, False) == []
    p.probed(False)
    assert p.reasons(True, False) == ["broker unreachable"]
    p.probed(True)  # back: maybe without its data, so positions are compared again
    assert p.reasons(True, False) == ["positions not yet compared with the logs"]


def test_rules_reload_keeps_the_old_rules_on_a_bad_file(tmp_path):
    registry = CollectorRegistry()
    detect = Detect(Settings(), Topics("t."), StreamMetrics(registry), rewind.Checks())
    path = tmp_path / "rules.yaml"
    rule = "  - {{name: {}, kind: spike, match: {{type: app.metric, metric: downloads}}, summary: s}}\n"
    good = "rules:\n" + rule.format("spike")
    path.write_text(good)
    reload = RulesReload(detect.engine, path, registry)
    before = detect.engine.rules
    path.write_text("rules:\n  - {name: spike, kind: nope}\n")
    reload.check()
    assert detect.engine.rules is before
    assert registry.get_sample_value("appwatch_rules_reload_total", {"outcome": "error"}) == 1
    path.write_text(good + rule.format("other"))
    reload.check()
    assert [r.name for r in detect.engine.rules] == ["spike", "other"]
    assert registry.get_sample_value("appwatch_rules_reload_total", {"outcome": "ok"}) == 1


def test_detect_turns_control_records_into_alerts():
    registry = CollectorRegistry()
    detect = Detect(Settings(), Topics("t."), StreamMetrics(registry), rewind.Checks(), {"doubao": "ByteDance"})
    table: dict = {}
    rank = {
        "event_id": "r1",
        "type": "app.rank",
        "source": "apple-rss",
        "ts": "2024-11-14T08:00:00+08:00",
        "app_id": "doubao",
        "platform": "ios",
        "country": "cn",
        "chart": "top-free",
    }
    assert detect.control({"event": {**rank, "rank": 30}}, table) == []
    out = detect.control({"event": {**rank, "event_id": "r2", "ts": "2024-11-15T08:00:00+08:00", "rank": 1}}, table)
    assert {a.rule for a in out} >= {"rank-top10-entry", "rank-number-one"}
    passed = detect.control({"alert": alert().model_dump(mode="json")}, table)
    assert [a.alert_id for a in passed] == [alert().alert_id]
    detect.observe(passed[0], NOW)
    assert registry.get_sample_value("appwatch_alerts_total", {"rule": "download-spike", "severity": "warning"}) == 1
