"""Real HTTP receivers behind a real worker: one hangs, one answers 410, one is healthy.

The healthy receiver gets every alert while the hanging one still holds its first
request; the 410 receiver is disabled after one request and its notification lands
in the notifications DLQ.
"""

from __future__ import annotations

import threading

import orjson
import pytest
from kafka import KafkaConsumer
from pytest_httpserver import HTTPServer
from werkzeug import Response

from appwatch.receiver import new_secret
from tests.conftest import Hooks, wait_until
from tests.integration.test_pipeline import publish_spike

pytestmark = pytest.mark.integration


@pytest.fixture
def hanging():
    """A receiver that holds every request until the test releases it."""
    server = HTTPServer(host="127.0.0.1", threaded=True)
    release, got = threading.Event(), threading.Semaphore(0)

    def handle(request):
        got.release()
        release.wait(60)
        return Response(status=204)

    server.expect_request("/slow", method="POST").respond_with_handler(handle)
    server.start()
    yield server, release, got
    release.set()
    server.clear()
    server.stop()


def test_a_hanging_receiver_does_not_delay_the_others(broker, topics, httpserver, hanging, start_worker, tmp_path):
    server, release, got = hanging
    good = Hooks(httpserver, new_secret(), "/good")
    gone = Hooks(httpserver, good.secret, "/gone")
    gone.statuses = [410]
    config = tmp_path / "alerts.yaml"
    config.write_text(f"""
route:
  receiver: good
  group_by: [alert_id]
  group_wait: 0s
  routes:
    - {{receiver: slow, continue: true}}
    - {{receiver: gone, continue: true}}
    - {{receiver: good}}
receivers:
  - name: slow
    webhook_configs: [{{url: "{server.url_for("/slow")}"}}]
  - name: gone
    webhook_configs: [{{url: "{gone.url}", secret_env: HOOK_SECRET}}]
  - name: good
    webhook_configs: [{{url: "{good.url}", secret_env: HOOK_SECRET}}]
""")
    w = start_worker(topics, APPWATCH_ALERTS_CONFIG=str(config), HOOK_SECRET=good.secret)
    publish_spike(broker, topics, "doubao", 800_000)
    assert got.acquire(timeout=30), "the hanging receiver never got its first request"
    publish_spike(broker, topics, "kimi", 250_000)
    good.wait(lambda r: len(r) >= 2, 20, "both alerts at the healthy receiver while the slow one hangs")
    assert not release.is_set() and len(server.log) == 0  # the slow receiver has answered nothing yet
    assert sorted(p["data"]["labels"]["app_id"] for _, p in good.verified()) == ["doubao", "kimi"]

    # 410: one request, then the receiver is off; its notification is in the DLQ
    assert len(gone.requests) == 1
    assert w.metric("appwatch_receiver_disabled", receiver="gone/webhook/0") == 1
    consumer = KafkaConsumer(
        topics.notifications_dlq, bootstrap_servers=broker, auto_offset_reset="earliest", consumer_timeout_ms=15_000
    )
    record = orjson.loads(next(iter(consumer)).value)
    consumer.close()
    assert record["receiver"] == "gone/webhook/0" and record["status"] == 410
    assert w.metric("appwatch_notifications_total", receiver="gone/webhook/0", outcome="disabled") == 1

    release.set()  # the slow receiver answers; everything it was sent arrives
    wait_until(
        lambda: w.metric("appwatch_notifications_total", receiver="slow/webhook/0", outcome="sent") == 2,
        30,
        "both notifications at the slow receiver",
    )


def test_default_delivery_isolates_a_hanging_webhook_from_the_jsonl_audit(
    broker, topics, hanging, start_worker, tmp_path
):
    """No alerts config: each notifier still has its own queue."""
    server, release, got = hanging
    audit = tmp_path / "audit.jsonl"
    start_worker(
        topics,
        APPWATCH_WEBHOOK_URL=server.url_for("/slow"),
        APPWATCH_WEBHOOK_SECRET=new_secret(),
        APPWATCH_ALERTS_JSONL=str(audit),
    )
    publish_spike(broker, topics, "doubao", 800_000)
    assert got.acquire(timeout=30), "the webhook never got its first request"
    publish_spike(broker, topics, "kimi", 250_000)
    lines = wait_until(
        lambda: audit.exists() and len(audit.read_text().splitlines()) >= 2 and audit.read_text().splitlines(),
        20,
        "both alerts in the audit file while the webhook hangs",
    )
    assert sorted(orjson.loads(x)["labels"]["app_id"] for x in lines) == ["doubao", "kimi"]
    assert not release.is_set()
    release.set()
