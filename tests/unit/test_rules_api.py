"""The worker's rules status and rules check (appwatch/worker/rules_api.py), without a
broker or a web server."""

from __future__ import annotations

import asyncio
import time

import orjson
from prometheus_client import CollectorRegistry

from appwatch.worker.detect import Detect
from appwatch.worker.rules_api import RulesApi
from core.auth import Tokens
from core.events import Topics
from streams import rewind
from streams.detectors import threshold
from streams.metrics import StreamMetrics
from streams.series import SeriesState
from streams.settings import Settings
from streams.stage import Record

READ = "read-token-0123456789abcdef"
NOW = 1_731_600_000.0
RULES = """\
rules:
  - name: dau-high
    kind: threshold
    match: {metric: dau}
    params: {value: 1000000, for: 1h}

  - name: spike
    kind: spike
    match: {type: app.metric, metric: downloads}
"""


def rules_api(tmp_path, firing=None) -> tuple[RulesApi, Detect, StreamMetrics]:
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    metrics = StreamMetrics(CollectorRegistry())
    detect = Detect(Settings(rules=path), Topics("t."), metrics, rewind.Checks())
    api = RulesApi(Tokens(read=(READ,)), detect, path, firing or {}, metrics, "w1:6066", clock=lambda: NOW)
    return api, detect, metrics


def test_each_rule_with_its_line_state_and_what_this_worker_saw(tmp_path):
    firing = {"a": {"labels": {"rule": "spike"}, "until": None}, "b": {"labels": {"rule": "spike"}, "until": NOW - 1}}
    api, detect, metrics = rules_api(tmp_path, firing)
    detect.stage.stage.state[0] = {
        "x|all|cn|dau": SeriesState(rules={"dau-high": threshold.State(since=NOW - 60, due=NOW + 3540)})
    }
    detect.engine.evaluations["spike"] += 3
    metrics.alerts.labels("spike", "warning").inc(2)
    got = {r["name"]: r for r in api.status(f"Bearer {READ}").body}
    want = {
        "line": 2,
        "state": "pending",
        "pending": 1,
        "firing": 0,
        "file": str(tmp_path / "rules.yaml"),
        "worker": "w1:6066",
    }
    assert {k: got["dau-high"][k] for k in want} == want
    assert (got["spike"]["line"], got["spike"]["state"], got["spike"]["firing"]) == (7, "firing", 1)
    assert (got["spike"]["evaluations"], got["spike"]["fired"]) == (3, 2)


def test_a_rules_file_is_checked_without_being_applied(tmp_path):
    api, detect, _ = rules_api(tmp_path)
    before = detect.engine.rules
    ok = api.check(f"Bearer {READ}", RULES.replace("name: spike", "name: surge"))
    assert ok.status == 200 and [(r["name"], r["line"]) for r in ok.body["rules"]] == [("dau-high", 2), ("surge", 7)]
    bad = api.check(f"Bearer {READ}", RULES.replace("kind: spike", "kind: nope"))
    assert bad.status == 400 and bad.body["errors"][0].startswith("<posted rules>:8: rules[1](spike).kind")
    assert detect.engine.rules is before


def test_both_routes_need_a_token(tmp_path):
    api, _, _ = rules_api(tmp_path)
    for answer in (api.status(None), api.check(None, RULES), api.status("Bearer nope")):
        assert answer.status == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")


def metric_record(offset: int, metric: str) -> Record:
    value = {
        "event_id": f"e{offset}",
        "type": "app.metric",
        "source": "t",
        "ts": "2024-11-01T00:00:00+08:00",
        "app_id": "x",
        "platform": "all",
        "country": "cn",
        "metric": metric,
        "value": 5,
        "period": "day",
    }
    return Record("t.events.metrics", 0, offset, 1_730_390_400_000, b"x|cn", orjson.dumps(value))


def test_last_evaluation_is_noted_per_rule_once_per_batch(tmp_path, monkeypatch):
    api, detect, _ = rules_api(tmp_path)
    stage = detect.stage.stage
    last = lambda: {r["name"]: r["last_evaluation"] for r in api.status(f"Bearer {READ}").body}  # noqa: E731
    assert last() == {"dau-high": None, "spike": None}
    monkeypatch.setattr(time, "time", lambda: NOW)
    stage.process({0: [metric_record(1, "downloads"), metric_record(2, "downloads")]})
    assert last() == {"dau-high": None, "spike": NOW}
    monkeypatch.setattr(time, "time", lambda: NOW + 5)
    stage.process({0: [metric_record(3, "dau")]})
    assert last() == {"dau-high": NOW + 5, "spike": NOW}  # spike was not evaluated again
    stage.sweep(NOW + 9)  # nothing moved: nothing noted
    assert last() == {"dau-high": NOW + 5, "spike": NOW}


def test_a_backtest_over_recent_history_needs_write_a_span_and_valid_rules(tmp_path):
    write = "write-token-0123456789abcdef"
    path = tmp_path / "rules.yaml"
    path.write_text(RULES)
    metrics = StreamMetrics(CollectorRegistry())
    detect = Detect(Settings(rules=path), Topics("t."), metrics, rewind.Checks())
    api = RulesApi(Tokens(read=(READ,), write=(write,)), detect, path, {}, metrics, "w1:6066", clock=lambda: NOW)

    async def go():
        assert (await api.backtest(None, RULES, "24h")).status == 401
        assert (await api.backtest(f"Bearer {READ}", RULES, "24h")).status == 403  # a backtest costs CPU
        span = await api.backtest(f"Bearer {write}", RULES, "a day")
        assert span.status == 400 and "24h or 7d" in span.body["error"]
        bad = await api.backtest(f"Bearer {write}", RULES.replace("kind: spike", "kind: nope"), "24h")
        assert bad.status == 400 and bad.body["errors"][0].startswith("<posted rules>:8:")
        assert (await api.backtest(f"Bearer {write}", RULES, "24h")).status == 503  # no backtests part

    asyncio.run(go())
