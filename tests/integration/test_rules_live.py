"""Rules on the running worker: hot reload (valid and invalid) and the wall-clock deadman sweep."""

import pytest

from connectors.publish import Publisher
from tests.conftest import wait_until
from tests.integration.test_pipeline import downloads, history

pytestmark = pytest.mark.integration

RULES_A = """
rules:
  - {name: spike-a, kind: spike, params: {ratio: 2.0}}
  - {name: quiet-source, kind: deadman, params: {for: 2s}, match: {source: quiet}}
"""
RULES_B = """
rules:
  - {name: big-spike, kind: spike, params: {ratio: 5.0}}
"""


def rule_alerts(hooks, rule):
    return [p["data"] for _, p in hooks.verified() if p["data"]["rule"] == rule]


def test_hot_reload_and_deadman(broker, topics, hooks, start_worker, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES_A)
    w = start_worker(
        topics, APPWATCH_WEBHOOK_URL=hooks.url, APPWATCH_WEBHOOK_SECRET=hooks.secret, APPWATCH_RULES=str(rules)
    )
    with Publisher(broker, topics) as pub:
        # deadman: one event from "quiet", then silence: the timer sweep fires on wall-clock time
        pub.send(downloads("quietapp", 1, 10).model_copy(update={"source": "quiet"}))
        pub.flush()
        hooks.wait(lambda r: len(r) >= 1, 30, "the deadman alert from the sweep")
        (fired,) = rule_alerts(hooks, "quiet-source")
        assert fired["status"] == "firing" and fired["labels"] == {"source": "quiet"}
        # the source comes back: resolved, same alert id
        pub.send(downloads("quietapp", 2, 10).model_copy(update={"source": "quiet", "event_id": "q2"}))
        pub.flush()
        hooks.wait(lambda r: len(r) >= 2, 30, "the deadman resolved notice")
        resolved = rule_alerts(hooks, "quiet-source")[1]
        assert resolved["status"] == "resolved" and resolved["alert_id"] == fired["alert_id"]

        # a valid change applies without a restart
        rules.write_text(RULES_B)
        wait_until(lambda: w.metric("appwatch_rules_reload_total", outcome="ok") == 1, 20, "reload ok")
        pub.send_all(history("three", range(1, 8), 1000) + [downloads("three", 8, 3000)])  # 3x: < 5x
        pub.send_all(history("six", range(1, 8), 1000) + [downloads("six", 8, 6000)])
        pub.flush()
        hooks.wait(lambda r: any(p["data"]["rule"] == "big-spike" for _, p in hooks.verified()), 30, "big-spike")

        # an invalid change is rejected; the old rules keep running
        rules.write_text("rules:\n  - name: broken\n    kind: spike\n    params: {ratio: 0.1}\n")
        wait_until(lambda: w.metric("appwatch_rules_reload_total", outcome="error") == 1, 20, "reload error")
        pub.send_all(history("seven", range(1, 8), 1000) + [downloads("seven", 8, 7000)])
        pub.flush()
        hooks.wait(lambda r: len(rule_alerts(hooks, "big-spike")) >= 2, 30, "big-spike after a bad reload")
    wait_until(lambda: w.metric("appwatch_events_total") >= 26, 20, "every event consumed")
    spikes = rule_alerts(hooks, "big-spike")
    assert sorted(a["labels"]["app_id"] for a in spikes) == ["seven", "six"]
    assert rule_alerts(hooks, "spike-a") == []
    assert "rules reload rejected" in w.log.read_text()
    assert "rules[0](broken).params.ratio" in w.log.read_text()
