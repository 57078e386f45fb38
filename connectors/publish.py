"""Publish events to Kafka with kafka-python, keyed as in the contract."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable, Sequence

import orjson
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from core.events import Event, InvalidEvent, Topics, decode

PROBE_EVERY = 2.0  # seconds between reachability probes (readiness)


def reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    """True when any of the bootstrap brokers (``host:port,...``) accepts a TCP connection."""
    for hostport in bootstrap.split(","):
        host, _, port = hostport.strip().rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout).close()
            return True
        except (OSError, ValueError):
            continue
    return False


class Publisher:
    def __init__(self, bootstrap: str, topics: Topics, **producer_config) -> None:
        self.topics, self.bootstrap = topics, bootstrap
        self._probe: tuple[float, bool] = (float("-inf"), False)
        config = {"acks": "all", "linger_ms": 5, "client_id": "appwatch-connector", **producer_config}
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, **config)
        self._partitions: dict[tuple[str, bytes], int] = {}
        self._counts: dict[str, int] = {}

    def send(self, ev: Event):
        topic, key = self.topics.for_event(ev), ev.key.encode()
        return self.producer.send(topic, key=key, value=ev.to_json(), partition=self._partition(topic, key))

    def _partition(self, topic: str, key: bytes) -> int:
        """kafka-python's default (murmur2, as Java's) partition, cached per key: it is
        a fifth of the cost of a send otherwise."""
        cached = self._partitions.get((topic, key))
        if cached is None:
            if topic not in self._counts:
                self._counts[topic] = len(self.producer.partitions_for(topic))
            cached = (murmur2(key) & 0x7FFFFFFF) % self._counts[topic]
            if len(self._partitions) > 100_000:
                self._partitions.clear()
            self._partitions[(topic, key)] = cached
        return cached

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

    def connected(self) -> bool:
        """The broker accepts connections (probed at most every ``PROBE_EVERY`` seconds).
        Not kafka-python's ``bootstrap_connected()``: with kafka-python 3.0 it never
        reports connected once the producer has its metadata."""
        at, ok = self._probe
        if time.monotonic() - at >= PROBE_EVERY:
            ok = reachable(self.bootstrap)
            self._probe = (time.monotonic(), ok)
        return ok

    def close(self) -> None:
        self.producer.close(timeout=10)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def publish_acked(publisher, events: Iterable[Event]) -> None:
    """Send and flush; raise the first failure (kafka-python's flush() does not)."""
    futures = [publisher.send(ev) for ev in events]
    publisher.flush()
    for f in futures:
        if f is not None and callable(getattr(f, "failed", None)) and f.failed():
            raise f.exception


def publish_lines(
    pub: Publisher,
    lines: Sequence[bytes],
    *,
    raw: bool = False,
    on_invalid: Callable[[int, InvalidEvent], None] = lambda n, exc: None,
    on_line: Callable[[], None] = lambda: None,
) -> tuple[int, int]:
    """Publish JSONL lines of contract events: (sent, invalid). An invalid line is reported
    to ``on_invalid(line number, error)``; with ``raw`` it is published as it is too, to the
    topic its ``type`` names (to see the DLQ at work)."""
    sent = bad = 0
    for n, line in enumerate(lines, 1):
        on_line()
        if not line.strip():
            continue
        try:
            pub.send(decode(line))
            sent += 1
        except InvalidEvent as exc:
            bad += 1
            on_invalid(n, exc)
            if raw:
                pub.send_raw(pub.topics.for_event(_object(line)), line)
                sent += 1
    pub.flush()
    return sent, bad


def _object(line: bytes) -> dict:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return {}
    return obj if isinstance(obj, dict) else {}
