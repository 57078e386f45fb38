"""The worker with an alerts config: routes to receivers, grouping, both webhooks signed."""

import pytest

from appwatch.receiver import new_secret
from tests.conftest import Hooks, wait_until
from tests.integration.test_pipeline import publish_spike

pytestmark = pytest.mark.integration


def test_routes_doubao_to_market_and_everything_to_all(broker, topics, httpserver, start_worker, tmp_path):
    market = Hooks(httpserver, new_secret(), "/market")
    everything = Hooks(httpserver, market.secret, "/all")
    config = tmp_path / "alerts.yaml"
    config.write_text(f"""
route:
  receiver: all
  group_by: [rule, app_id]
  group_wait: 0s
  routes:
    - matchers: ['app_id="doubao"']
      receiver: market
      continue: true
    - receiver: all
receivers:
  - name: market
    webhook_configs: [{{url: "{market.url}", secret_env: HOOK_SECRET}}]
  - name: all
    webhook_configs: [{{url: "{everything.url}", secret_env: HOOK_SECRET}}]
    jsonl_configs: [{{path: "{tmp_path / "audit.jsonl"}"}}]
""")
    w = start_worker(topics, APPWATCH_ALERTS_CONFIG=str(config), HOOK_SECRET=market.secret)
    publish_spike(broker, topics, "doubao", 800_000)
    publish_spike(broker, topics, "kimi", 250_000)
    everything.wait(lambda r: len(r) >= 2, 30, "both alerts at the catch-all receiver")
    market.wait(lambda r: len(r) >= 1, 30, "the Doubao alert at the market receiver")
    assert [p["data"]["labels"]["app_id"] for _, p in market.verified()] == ["doubao"]
    assert sorted(p["data"]["labels"]["app_id"] for _, p in everything.verified()) == ["doubao", "kimi"]
    audit = tmp_path / "audit.jsonl"
    # The receiver's integrations run side by side: the file may lag the webhook.
    wait_until(lambda: audit.exists() and len(audit.read_text().splitlines()) >= 2, 30, "both alerts in audit.jsonl")
    assert len(audit.read_text().splitlines()) == 2
    market_sent = {"receiver": "market/webhook/0", "integration": "webhook", "outcome": "sent"}
    wait_until(lambda: w.metric("appwatch_notifications_total", **market_sent) >= 1, 10, "market webhook counted")
    assert w.metric("appwatch_notifications_total", **market_sent) == 1
    wait_until(
        lambda: w.metric("appwatch_notifications_total", integration="jsonl", outcome="sent") >= 2, 10, "jsonl counted"
    )
    assert w.metric("appwatch_notifications_total", integration="jsonl", outcome="sent") == 2


def test_alerts_test_sends_through_one_receiver(hooks, tmp_path):
    import os
    import subprocess
    import sys

    config = tmp_path / "alerts.yaml"
    config.write_text(f"""
route: {{receiver: ops}}
receivers:
  - name: ops
    webhook_configs: [{{url: "{hooks.url}", secret_env: HOOK_SECRET}}]
""")
    env = {
        **os.environ,
        "APPWATCH_ALERTS_CONFIG": str(config),
        "HOOK_SECRET": hooks.secret,
        "APPWATCH_ALLOW_HOSTS": "localhost",
    }
    r = subprocess.run(
        [sys.executable, "-m", "appwatch", "alerts", "test", "--receiver", "ops"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert "sent     ops/webhook/0" in r.stdout.decode()
    ((_, payload),) = hooks.verified()
    assert payload["data"]["rule"] == "appwatch-test"
    r = subprocess.run(
        [sys.executable, "-m", "appwatch", "alerts", "test", "--receiver", "nope"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 2 and "no receiver 'nope'" in r.stderr.decode()
