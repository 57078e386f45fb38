"""What the broker keeps for the CLI: the alert history (the alerts topic) and the
silences (their compacted topic), read from the start outside any group."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, KafkaProducer

from alerts.silence import Silence
from core.alert import Alert
from core.events import Topics
from streams.settings import Settings


def _read(s: Settings, topic: str, timeout_ms: int):
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=s.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=timeout_ms,
        **s.kafka_config(),
    )
    try:
        yield from consumer
    finally:
        consumer.close()


def alerts_fired(s: Settings, within: float, rule: str | None = None) -> list[Alert]:
    """The alerts written to the alerts topic in the last ``within`` seconds, by event time;
    a replay carries the same delivery key: the last one is kept."""
    cutoff = (time.time() - within) * 1000
    seen: dict[str, Alert] = {}
    for msg in _read(s, Topics(s.topic_prefix).alerts, 1500):
        if msg.timestamp < cutoff:
            continue
        alert = Alert.model_validate_json(msg.value)
        if rule is None or alert.rule == rule:
            seen[alert.delivery_key] = alert
    return sorted(seen.values(), key=lambda a: a.event_ts)


def silences(s: Settings) -> dict[str, Silence]:
    """Every silence on the topic, the last record of each id (bad records skipped)."""
    found = {}
    for msg in _read(s, Topics(s.topic_prefix).silences, 1000):
        try:
            sil = Silence.model_validate_json(msg.value)
        except ValueError:
            continue
        found[sil.id] = sil
    return found


def publish_silence(s: Settings, sil: Silence) -> None:
    producer = KafkaProducer(bootstrap_servers=s.bootstrap, acks="all", **s.kafka_config())
    try:
        producer.send(Topics(s.topic_prefix).silences, key=sil.id.encode(), value=sil.to_json()).get(30)
    finally:
        producer.close()
