"""The Faust app the worker parts install on, and what more than one part needs:
reading a whole compacted topic, the partition of a key, broker reachability."""

from __future__ import annotations

import asyncio

import faust
from aiokafka import AIOKafkaConsumer
from faust.serializers import codecs as faust_codecs
from kafka.partitioner.default import murmur2

from streams import faustapp, rewind, tansu
from streams.settings import Settings

RAW = dict(key_serializer="raw", value_serializer="raw")
MAX_BODY = 64 * 2**20  # the largest request body the worker reads (a backtest's events)


def new_app(settings: Settings) -> faust.App:
    """Faust's app on the configured broker; its own pages (/router, /table/<name>: the
    tables' contents, /stats) off: the worker serves only its API, /metrics and probes."""
    flavor_tansu = settings.broker_flavor == "tansu"
    return (tansu.TansuApp if flavor_tansu else faustapp.App)(
        settings.group,
        broker=settings.broker,
        store="memory://",
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        web_application_options={"client_max_size": MAX_BODY},
        web_router_enabled=False,
        web_tables_enabled=False,
        web_stats_enabled=False,
        broker_credentials=settings.faust_credentials(),
        **(tansu.SETTINGS if flavor_tansu else {}),
    )


def partition_of(key: str, partitions: int) -> int:
    """The partition of a key the way the producer places it: murmur2 of its bytes as the
    topic and the table serialise it (JSON)."""
    return (murmur2(faust_codecs.dumps("json", key)) & 0x7FFFFFFF) % partitions


async def follow(settings: Settings, topic: str, apply, checks: rewind.Checks) -> None:
    """Read the whole of a compacted topic, outside any group, for good: ``apply(key,
    value, offset)`` for each record (value None: deleted)."""
    checks.add(topic)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
        **settings.aiokafka_config(),
    )
    await consumer.start()
    try:
        while True:
            await checks.run(topic, lambda: rewind.rewind(consumer, tansu.ends_corrector(settings)))
            batch = await consumer.getmany(timeout_ms=500)
            for msg in (m for records in batch.values() for m in records):
                apply(msg.key, msg.value, msg.offset)
    finally:
        await consumer.stop()


async def reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    """True when any bootstrap broker accepts a TCP connection."""
    for hostport in bootstrap.split(","):
        host, _, port = hostport.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
        except (TimeoutError, OSError):
            continue
        writer.close()
        return True
    return False
