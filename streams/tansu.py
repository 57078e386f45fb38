"""The Faust app for the embedded Tansu broker, with two of its quirks handled.

1. Tansu answers a fetch only when ``fetch_max_wait_ms`` ends, even with data waiting;
   Faust hard-codes 1500 ms, which would be the latency of every hop: 20 ms here.
2. Tansu reports a partition's end offset as the base offset of its last record batch
   plus one, not the offset after its last record. Faust recovers a table by reading its
   changelog up to that end offset, so with batched produce the tail of the last batch
   was lost (and a worker could die with ConsistencyError). ``true_ends`` reads the last
   batch and returns the real end, so the producer batches normally.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams import faustapp

log = logging.getLogger(__name__)
# Short group timeouts help joins.
SETTINGS = dict(broker_session_timeout=2.0, broker_heartbeat_interval=0.5)
FETCH_MAX_WAIT_MS = 20


async def true_ends(bootstrap: str, ends: Mapping, timeout: float = 5.0) -> dict:
    """``ends`` (partition -> end offset as Tansu reports it) corrected by reading, from
    the last batch's base offset, up to the last record there is. A partition with no
    record to read in ``timeout`` is taken as empty (logged): after Tansu restarts empty
    it can report an end for a changelog it cannot serve, and recovery would wait forever."""
    out = dict(ends)
    todo = {TopicPartition(tp.topic, tp.partition): tp for tp, end in ends.items() if end}
    if not todo:
        return out
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        consumer.assign(list(todo))
        for tp, key in todo.items():
            consumer.seek(tp, ends[key] - 1)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        pending = set(todo)
        while pending and loop.time() < deadline:
            for tp, records in (await consumer.getmany(*pending, timeout_ms=100)).items():
                if records:
                    key = todo[tp]
                    out[key] = max(out[key], records[-1].offset + 1)
                    pending.discard(tp)
        for tp in pending:
            log.warning(
                "no record to read in %s at or after offset %d; recovering it as empty", tuple(tp), ends[todo[tp]] - 1
            )
            out[todo[tp]] = 0
    finally:
        await consumer.stop()
    return out


def ends_corrector(settings):
    """``true_ends`` on this broker when it is Tansu; None elsewhere (its ends are true)."""
    if settings.broker_flavor != "tansu":
        return None
    return lambda ends: true_ends(settings.bootstrap, ends)


class _ConsumerThread(faustapp.ConsumerThread):
    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read in start()
        return consumer

    async def _highwaters(self, partitions):
        ends = await super()._highwaters(partitions)
        bootstrap = ",".join(f"{url.host}:{url.port}" for url in self.app.conf.broker)
        return await true_ends(bootstrap, ends)


class _Consumer(faustapp.Consumer):
    thread_class = _ConsumerThread


class _Transport(faustapp.Transport):
    Consumer = _Consumer


class TansuApp(faustapp.App):
    transport_class = _Transport
