"""Synthetic workloads and the Kafka plumbing the harness needs.

- ``spike_workload``: N ``app.metric`` delta events over S series spread over D days,
  in time order; every ``spike_every``-th series has one spike day, so exactly
  ``S // spike_every`` download-spike alerts must come out of any correct pipeline.
- ``produce``: pre-serialized records, keyed and partitioned as the contract says
  (murmur2 of ``app_id|country``), sent in aiokafka batches; returns the offset each
  partition must reach (from the broker's own answers, not from end offsets, which
  Tansu reports as the last batch's base offset + 1).
- ``Committed``: a consumer group's committed offsets (kafka-python admin).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from kafka.partitioner.default import murmur2

TZ = timezone(timedelta(hours=8))  # the spike rule's days are Asia/Shanghai days
START = date(2024, 7, 1)  # no CN holiday or commercial day for 45 days: the pack widens those


@dataclass
class Workload:
    topic: str
    records: list[tuple[bytes, bytes]]  # (key, value), in produce order
    series: int
    days: int
    expected_alerts: int
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)


def app_id(s: int) -> str:
    return f"app{s:06d}"


def spike_workload(
    topic: str,
    n: int,
    series: int,
    per_day: int = 1,
    spike_every: int = 10,
    spike_day: int = 7,
    spike_factor: float = 3.0,
) -> Workload:
    """``n`` is rounded up to a multiple of ``series``: every series gets the same events,
    ``per_day`` a day, day after day, in time order (every series' k-th event before any
    (k+1)-th). Day totals are flat (``base``, per series) except, for every
    ``spike_every``-th series, day ``spike_day`` at ``spike_factor`` x base (after 7 flat
    days: the rule's baseline). Events sit at 12:00+08:00 (04:00 UTC), so UTC-aligned
    windows (Quix) and Asia/Shanghai days (appwatch) cut the same days."""
    per_series = max(1, -(-n // series))
    days = -(-per_series // per_day)
    records: list[tuple[bytes, bytes]] = []
    keys = [f"{app_id(s)}|cn".encode() for s in range(series)]
    bases = [10_000.0 + (s % 100) * 1_000.0 for s in range(series)]
    day0 = datetime(START.year, START.month, START.day, 12, tzinfo=TZ)
    apps = [app_id(s).encode() for s in range(series)]
    # a bytes template: 4x faster than orjson.dumps of a dict, and the same JSON
    tmpl = (
        b'{"event_id":"bench:%d:%d","type":"app.metric","source":"bench","ts":"%s",'
        b'"app_id":"%s","platform":"all","country":"cn","metric":"downloads","value":%.3f,'
        b'"period":"day","mode":"delta"}'
    )
    append = records.append
    for k in range(per_series):
        day, j = divmod(k, per_day)
        in_day = min(per_day, per_series - day * per_day)
        ts = (day0 + timedelta(days=day, minutes=j)).isoformat().encode()
        spiking = day == spike_day
        for s in range(series):
            value = bases[s] / in_day
            if spiking and s % spike_every == 0:
                value *= spike_factor
            append((keys[s], tmpl % (s, k, ts, apps[s], value)))
    alerts = len(range(0, series, spike_every)) if days > spike_day else 0
    return Workload(
        topic,
        records,
        series,
        days,
        alerts,
        {
            "events_per_series": per_series,
            "events_per_day": per_day,
            "spike_day": spike_day,
            "spike_every": spike_every,
            "spike_factor": spike_factor,
        },
    )


def partition_of(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


async def produce_async(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], partitions: int, batch: int = 2000
) -> dict[int, int]:
    """Send ``records`` keyed and partitioned as the contract says; return, per partition,
    the offset after its last record (what a consumer group commits when done)."""
    from aiokafka import AIOKafkaProducer

    by_part: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in range(partitions)}
    cache: dict[bytes, int] = {}
    for key, value in records:
        p = cache.get(key)
        if p is None:
            p = cache[key] = partition_of(key, partitions)
        by_part[p].append((key, value))
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20, max_batch_size=1024 * 1024)
    await prod.start()
    ends: dict[int, int] = {}
    try:
        pos = {p: 0 for p in by_part}
        while any(pos[p] < len(by_part[p]) for p in by_part):
            futures = []
            for p, recs in by_part.items():
                if pos[p] >= len(recs):
                    continue
                b = prod.create_batch()
                n = 0
                while pos[p] < len(recs) and n < batch:
                    k, v = recs[pos[p]]
                    if b.append(key=k, value=v, timestamp=None) is None:
                        break
                    pos[p] += 1
                    n += 1
                b.close()
                futures.append((p, n, await prod.send_batch(b, topic, partition=p)))
            for p, n, fut in futures:
                md = await fut
                ends[p] = max(ends.get(p, 0), md.offset + n)
    finally:
        await prod.stop()
    return ends


def produce(bootstrap: str, topic: str, records, partitions: int) -> dict[int, int]:
    return asyncio.run(produce_async(bootstrap, topic, records, partitions))


class Committed:
    """Poll one consumer group's committed offsets on one topic."""

    def __init__(self, bootstrap: str) -> None:
        from kafka.admin import KafkaAdminClient

        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-probe")

    def offsets(self, group: str, topic: str) -> dict[int, int]:
        try:
            got = self.admin.list_group_offsets(group)
        except Exception:  # noqa: BLE001 - the group may not exist yet
            return {}
        table = got.get(group, got) if isinstance(got, dict) else {}
        return {
            tp.partition: om.offset
            for tp, om in table.items()
            if tp.topic == topic and om is not None and om.offset is not None and om.offset >= 0
        }

    def done(self, group: str, topic: str, ends: dict[int, int]) -> tuple[int, bool]:
        """(events committed so far, all partitions at their end)."""
        got = self.offsets(group, topic)
        total = sum(min(got.get(p, 0), end) for p, end in ends.items())
        return total, all(got.get(p, 0) >= end for p, end in ends.items())

    def close(self) -> None:
        self.admin.close()


def count_records(bootstrap: str, topic: str, expect: int, timeout: float) -> list[bytes]:
    """Read a topic from the start until ``expect`` records or ``timeout`` (outside any group)."""
    from kafka import KafkaConsumer

    c = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=int(timeout * 1000),
    )
    out = []
    deadline = time.monotonic() + timeout
    try:
        for msg in c:
            out.append(msg.value)
            if len(out) >= expect > 0 or time.monotonic() > deadline:
                break
    finally:
        c.close()
    return out
