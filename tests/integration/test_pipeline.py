"""Events in on the embedded broker -> worker process -> signed webhook, DLQ, metrics."""

from __future__ import annotations

import orjson
import pytest
from kafka import KafkaConsumer

from connectors.publish import Publisher
from core.events import validate
from tests.conftest import wait_until

pytestmark = pytest.mark.integration


def downloads(app_id: str, day: int, value: float, *, mode: str = "total", hour: int = 0, country: str = "cn"):
    return validate(
        dict(
            event_id=f"t:{app_id}:{day}:{hour}:{mode}",
            type="app.metric",
            source="test",
            ts=f"2024-11-{day:02d}T{hour:02d}:00:00+08:00",
            app_id=app_id,
            app_name=app_id.title(),
            platform="all",
            country=country,
            metric="downloads",
            value=value,
            period="day",
            mode=mode,
        )
    )


def history(app_id: str, days: range, value: float = 800_000):
    return [downloads(app_id, d, value) for d in days]


def signed_worker(start_worker, topics, hooks):
    return start_worker(topics, APPWATCH_WEBHOOK_URL=hooks.url, APPWATCH_WEBHOOK_SECRET=hooks.secret)


def publish_spike(broker, topics, app_id: str, base: float, factor: float = 3.0) -> None:
    """Seven flat days, then a day at ``factor`` times the baseline."""
    with Publisher(broker, topics) as pub:
        pub.send_all([*history(app_id, range(1, 8), base), downloads(app_id, 8, base * factor)])
        pub.flush()


def test_spike_reaches_signed_webhook_once(broker, topics, hooks, start_worker):
    w = signed_worker(start_worker, topics, hooks)
    with Publisher(broker, topics) as pub:
        pub.send_all(history("doubao", range(1, 8)))
        pub.send_all(history("kimi", range(1, 9), 250_000))  # flat control
        # the live day as deltas: the alert fires when the running total crosses 2x
        for hour in range(6):
            pub.send(downloads("doubao", 8, 400_000, mode="delta", hour=hour))
        pub.flush()
    hooks.wait(lambda r: len(r) >= 1, 30, "the spike webhook")
    ((msg_id, payload),) = hooks.verified()
    alert = payload["data"]
    assert payload["type"] == "alert.firing"
    assert alert["rule"] == "download-spike"
    assert alert["labels"] == {"app_id": "doubao", "platform": "all", "country": "cn", "metric": "downloads"}
    assert alert["value"] == 1_600_000  # fired at the 4th delta: 4 x 400k >= 2 x 800k
    assert alert["baseline"] == 800_000
    assert alert["window_start"] == "2024-11-08T00:00:00+08:00"
    assert msg_id == f"msg_{alert['alert_id']}_firing"

    # every delta was consumed, and the later ones did not fire again for the day
    wait_until(lambda: w.metric("appwatch_events_total") >= 21, 20, "all events consumed")
    assert w.metric("appwatch_alerts_total", rule="download-spike") == 1
    sent = {"receiver": "webhook", "outcome": "sent"}
    wait_until(lambda: w.metric("appwatch_notifications_total", **sent) >= 1, 10, "the delivery counted")
    assert w.metric("appwatch_notifications_total", **sent) == 1
    assert len(hooks.requests) == 1


def test_replayed_alert_is_not_delivered_twice(broker, topics, hooks, start_worker, tmp_path):
    audit = tmp_path / "alerts.jsonl"
    w = start_worker(
        topics, APPWATCH_WEBHOOK_URL=hooks.url, APPWATCH_WEBHOOK_SECRET=hooks.secret, APPWATCH_ALERTS_JSONL=str(audit)
    )
    publish_spike(broker, topics, "tongyi", 100_000)
    hooks.wait(lambda r: len(r) >= 1, 30, "the first delivery")
    ((_, payload),) = hooks.verified()
    # replay the alert record itself, as a rebalance would
    with Publisher(broker, topics) as pub:
        raw = orjson.dumps(payload["data"])
        for _ in range(3):
            pub.send_raw(topics.alerts, raw, key=payload["data"]["alert_id"].encode())
        pub.flush()
    wait_until(lambda: w.metric("appwatch_alerts_deduplicated_total") >= 3, 20, "dedup of replays")
    assert len(hooks.requests) == 1
    assert len(audit.read_text().splitlines()) == 1  # every receiver: once


def test_alerts_list_reads_the_history(broker, topics, hooks, start_worker):
    import os
    import subprocess
    import sys

    signed_worker(start_worker, topics, hooks)
    publish_spike(broker, topics, "yuanbao", 20_000)
    hooks.wait(lambda r: len(r) >= 1, 30, "the alert")
    env = {**os.environ, "APPWATCH_BROKER": f"kafka://{broker}", "APPWATCH_TOPIC_PREFIX": topics.prefix}
    r = subprocess.run(
        [sys.executable, "-m", "appwatch", "alerts", "list", "--fired-within", "1h", "--json"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr.decode()
    (line,) = r.stdout.splitlines()
    assert orjson.loads(line)["labels"]["app_id"] == "yuanbao"
    r = subprocess.run(
        [sys.executable, "-m", "appwatch", "alerts", "list", "--fired-within", "1h", "--rule", "nope", "--json"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert r.stdout == b""


def test_webhook_retries_5xx_with_the_same_webhook_id(broker, topics, hooks, start_worker):
    hooks.statuses = [500, 503]
    w = signed_worker(start_worker, topics, hooks)
    publish_spike(broker, topics, "wenxiaoyan", 150_000)
    hooks.wait(lambda r: len(r) >= 3, 30, "two failures and a success")
    ids = {msg_id for msg_id, _ in hooks.verified()}
    assert len(ids) == 1
    wait_until(lambda: w.metric("appwatch_notifications_total", receiver="webhook", outcome="sent") == 1, 10, "sent")
    assert w.metric("appwatch_notification_attempts_total", receiver="webhook") == 3


def test_invalid_events_go_to_the_dlq_and_the_worker_keeps_going(broker, topics, hooks, start_worker):
    w = signed_worker(start_worker, topics, hooks)
    bad = [
        (topics.metrics, b'{"type": "app.metric", '),
        (topics.metrics, orjson.dumps({**orjson.loads(downloads("x", 1, 1).to_json()), "value": -1})),
        (topics.ranks, b"\xff\xfe"),
    ]
    with Publisher(broker, topics) as pub:
        for topic, raw in bad:
            pub.send_raw(topic, raw)
        pub.send_all(history("yuanbao", range(1, 8), 50_000))
        pub.send(downloads("yuanbao", 8, 500_000))
        pub.flush()
    hooks.wait(lambda r: len(r) >= 1, 30, "the alert after the bad events")

    consumer = KafkaConsumer(
        topics.dlq, bootstrap_servers=broker, auto_offset_reset="earliest", consumer_timeout_ms=15_000
    )
    records = []
    for msg in consumer:
        records.append(orjson.loads(msg.value))
        if len(records) == 3:
            break
    consumer.close()
    by_reason = {r["reason"]: r for r in records}
    assert set(by_reason) == {"json", "value:greater_than_equal"}
    neg = by_reason["value:greater_than_equal"]
    assert "value" in neg["error"] and neg["topic"] == topics.metrics
    assert orjson.loads(neg["raw"])["value"] == -1
    assert isinstance(neg["partition"], int) and isinstance(neg["offset"], int)
    assert any("raw_b64" in r and r["topic"] == topics.ranks for r in records)
    assert w.metric("appwatch_events_invalid_total") == 3
    assert w.metric("appwatch_events_invalid_total", reason="json") == 2


def test_publish_command_feeds_the_worker(broker, topics, hooks, start_worker, tmp_path):
    import os
    import subprocess
    import sys

    signed_worker(start_worker, topics, hooks)
    events = [*history("chatgpt", range(1, 8), 900_000), downloads("chatgpt", 8, 2_000_000)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(e.to_json() for e in events) + b"\n{not json}\n")
    env = {**os.environ, "APPWATCH_BROKER": f"kafka://{broker}", "APPWATCH_TOPIC_PREFIX": topics.prefix}
    r = subprocess.run(
        [sys.executable, "-m", "appwatch", "publish", str(path)], env=env, capture_output=True, timeout=60
    )
    assert r.returncode == 1  # one invalid line, reported with its number
    assert f"{path}:9: invalid JSON" in r.stderr.decode()
    assert "published 8 events" in r.stderr.decode()
    hooks.wait(lambda r: len(r) >= 1, 30, "the chatgpt spike")
    assert hooks.verified()[0][1]["data"]["labels"]["app_id"] == "chatgpt"


def test_metrics_move(broker, topics, start_worker):
    w = start_worker(topics)
    assert w.metric("appwatch_events_total") == 0
    with Publisher(broker, topics) as pub:
        pub.send(downloads("kimi", 3, 280_000, country="cn"))
        pub.flush()
    wait_until(
        lambda: w.metric("appwatch_events_total", type="app.metric", source="test") == 1, 20, "the event counter"
    )
    assert w.metric("appwatch_app_downloads", app_id="kimi", country="cn") == 280_000


def test_a_permanent_4xx_goes_to_the_notifications_dlq(broker, topics, hooks, start_worker):
    hooks.statuses = [400]
    signed_worker(start_worker, topics, hooks)
    publish_spike(broker, topics, "kimi", 250_000)
    hooks.wait(lambda r: len(r) >= 1, 30, "the rejected delivery")
    consumer = KafkaConsumer(
        topics.notifications_dlq, bootstrap_servers=broker, auto_offset_reset="earliest", consumer_timeout_ms=15_000
    )
    record = orjson.loads(next(iter(consumer)).value)
    consumer.close()
    assert record["receiver"] == "webhook" and record["status"] == 400
    assert record["alert"]["labels"]["app_id"] == "kimi"
    assert len(hooks.requests) == 1  # a 400 is not retried
