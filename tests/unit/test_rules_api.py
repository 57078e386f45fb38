"""The worker's rules status and rules check (appwatch/worker/rules_api.py), without a
broker or a web server."""

from __future__ import annotations

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
