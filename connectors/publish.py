"""Publish events to Kafka with kafka-python, keyed as in the contract."""

from __future__ import annotations

from typing import Iterable

from kafka import KafkaProducer

from streams.events import Event, Topics


class Publisher:
    def __init__(self, bootstrap: str, topics: Topics, **producer_config) -> None:
        self.topics = topics
        self.producer = KafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=5,
            client_id="appwatch-connector", **producer_config)

    def send(self, ev: Event):
        return self.producer.send(self.topics.for_event(ev), key=ev.key.encode(), value=ev.to_json())

    def send_raw(self, topic: str, value: bytes, key: bytes | None = None):
        return self.producer.send(topic, key=key, value=value)

    def send_all(self, events: Iterable[Event]) -> int:
        n = 0
        for ev in events:
            self.send(ev)
            n += 1
        return n

    def flush(self, timeout: float | None = 30) -> None:
        self.producer.flush(timeout)

    def close(self) -> None:
        self.producer.close(timeout=10)

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
