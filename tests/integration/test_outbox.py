"""Delivery survives kill -9: the restarted worker re-sends what its groups had not sent, same webhook-id."""

import pytest

from appwatch.receiver import new_secret
from tests.conftest import Hooks, wait_until
from tests.integration.test_pipeline import publish_spike

pytestmark = pytest.mark.integration


def test_kill_9_mid_delivery_then_restart(broker, topics, httpserver, start_worker, tmp_path):
    hooks = Hooks(httpserver, new_secret())
    hooks.statuses = [503] * 3  # the receiver is down while the first worker tries
    config = tmp_path / "alerts.yaml"
    config.write_text(f"""
route: {{receiver: ops, group_wait: 0s}}
receivers:
  - name: ops
    webhook_configs: [{{url: "{hooks.url}", secret_env: HOOK_SECRET}}]
""")
    env = dict(APPWATCH_ALERTS_CONFIG=str(config), HOOK_SECRET=hooks.secret)
    first = start_worker(topics, **env)
    publish_spike(broker, topics, "doubao", 800_000)
    hooks.wait(lambda r: len(r) >= 2, 30, "the first failed attempts")
    first.proc.kill()  # kill -9 between "recorded" and "sent"
    first.proc.wait(10)
    failed_ids = {msg_id for msg_id, _ in hooks.verified()}
    assert len(failed_ids) == 1

    second = start_worker(topics, **env)  # same group: recovers the groups table
    wait_until(
        lambda: second.metric("appwatch_notifications_total", outcome="sent") >= 1,
        30,
        "a successful delivery after the restart",
    )
    ids = [msg_id for msg_id, _ in hooks.verified()]
    assert set(ids) == failed_ids  # the same webhook-id: the receiver can dedup
    assert "delivery: 1 notifications queued again after a restart or rebalance" in second.log.read_text()
