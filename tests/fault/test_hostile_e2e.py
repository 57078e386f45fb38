"""Hostile records through the real pipeline: embedded broker -> ``appwatch worker`` -> DLQ.

About 300 hostile records (random bytes, truncated and corrupted events, wrong types,
invalid UTF-8, NaN/1e400, null values, oversized, deeply nested, dates outside the
computable range ...) and 50 valid events (generated from the contract, odd ones
included) go to the event topics. Every hostile one must come out on the DLQ topic with
a reason and its exact bytes, every valid one must be counted by the worker's
``/metrics``, and the worker must stay up and keep consuming.
"""

from __future__ import annotations

import base64
import hashlib
import random
from collections import Counter

import orjson
import pytest
from kafka import KafkaConsumer

from connectors.publish import Publisher
from core.events import InvalidEvent, decode, validate
from streams import dlq
from tests.conftest import wait_until
from tests.fault.strategies import SNIPPETS, Gen

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

HOSTILE_N, VALID_N = 300, 50
METRIC = dict(
    event_id="e",
    type="app.metric",
    source="fault",
    ts="2024-11-14T00:00:00+08:00",
    app_id="doubao",
    platform="all",
    country="cn",
    metric="downloads",
    value=1,
    period="day",
)
# the records that crashed the detect agent before the fixes, and other sharp edges
SHARP = [
    None,  # a null value (tombstone)
    orjson.dumps({**METRIC, "ts": "9999-12-31T23:59:59-14:00"}),  # overflowed the tz conversion
    orjson.dumps({**METRIC, "ts": "0001-01-01T00:00:00+14:00"}),
    orjson.dumps(
        {
            "event_id": "n",
            "type": "news",
            "source": "fault",
            "ts": "2024-11-13T10:00:00+08:00",
            "url": "u",
            "title": "t",
        }
    )[:-1]
    + b',"x":'
    + b"[" * 300
    + b"]" * 300
    + b"}",  # 300 deep
    orjson.dumps({**METRIC, "pad": "x" * 200_000}),  # 200 KB
    b"\x01" * 900_000,  # a 5.4 MB DLQ record when JSON-escaped: over the producer limit, crashed the agent
    b"\xff" * 900_000,  # 1.2 MB in base64
    orjson.dumps({**METRIC, "type": "x\n2024-11-14 WARNING forged"}),
    orjson.dumps(
        {
            "event_id": "n",
            "type": "news",
            "source": "fault",
            "ts": "2024-11-13T10:00:00+08:00",
            "url": "u",
            "title": "t",
            "companies": ["a"] * 40 + [1],
        }
    ),
    orjson.dumps(METRIC).replace(b'"value":1', b'"value":NaN'),
    orjson.dumps(METRIC).replace(b'"value":1', b'"value":1e400'),
    orjson.dumps(METRIC).replace(b"doubao", b"\xff\xfe"),
]


def hostile_records(r: random.Random) -> list[bytes | None]:
    out: list[bytes | None] = [*SHARP, *SNIPPETS]
    for raw in out:  # each one really is invalid
        with pytest.raises(InvalidEvent):
            decode(raw)
    gen = Gen(r)
    while len(out) < HOSTILE_N:
        raw = gen.hostile()
        raw = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
        try:
            decode(raw)
        except InvalidEvent:
            out.append(raw)
    return out


def valid_events(r: random.Random) -> list:
    gen, out = Gen(r), []
    while len(out) < VALID_N:
        obj = gen.event()
        obj["event_id"] = f"valid-{len(out)}"
        out.append(validate(obj))
    return out


def expected(raw: bytes | None):
    """What the DLQ carries for ``raw``: itself, or (size, sha256, head) when too big to carry."""
    raw = raw or b""
    if orjson.loads(dlq.record(raw, "", "", "", 0, 0)).get("raw_truncated"):
        return len(raw), hashlib.sha256(raw).hexdigest(), raw[: dlq.KEEP]
    return raw


def read_topic(broker: str, topic: str, n: int, timeout: float = 60.0) -> list:
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=broker,
        auto_offset_reset="earliest",
        consumer_timeout_ms=int(timeout * 1000),
        max_partition_fetch_bytes=4 * 2**20,
    )
    out = []
    try:
        for msg in consumer:
            out.append(msg)
            if len(out) >= n:
                break
    finally:
        consumer.close()
    return out


def test_every_hostile_record_reaches_the_dlq_and_no_valid_event_is_lost(broker, topics, start_worker):
    r = random.Random(20241114)
    hostile, valid = hostile_records(r), valid_events(r)
    w = start_worker(topics, APPWATCH_CONSOLE="false")
    with Publisher(broker, topics, max_request_size=4 * 2**20) as pub:
        items = [("h", raw) for raw in hostile] + [("v", ev) for ev in valid]
        r.shuffle(items)
        for kind, item in items:
            if kind == "v":
                pub.send(item)
            else:
                key = r.choice([None, b"doubao|cn", r.randbytes(8)]) if item is not None else b"tombstone"
                pub.send_raw(r.choice(topics.events), item, key=key)
        pub.flush()

    records = read_topic(broker, topics.dlq, len(hostile))
    got = Counter()
    for msg in records:
        rec = orjson.loads(msg.value)
        assert rec["reason"] and rec["error"], rec
        assert rec["topic"] in topics.events and isinstance(rec["offset"], int)
        assert rec["error"].splitlines() == [rec["error"]]  # one line, whatever the input
        raw = rec["raw"].encode("utf-8") if "raw" in rec else base64.b64decode(rec["raw_b64"])
        if rec.get("raw_truncated"):  # the head of a huge one, and the size and hash of the whole
            raw = (rec["raw_size"], rec["raw_sha256"], raw)
        got[raw] += 1
    want = Counter(expected(raw) for raw in hostile)
    missing = want - got
    assert not missing, f"{sum(missing.values())} hostile records not in the DLQ, e.g. {list(missing)[:3]!r}"
    assert got == want  # and nothing else went there

    wait_until(lambda: w.metric("appwatch_events_total") >= VALID_N, 60, "every valid event counted")
    assert w.metric("appwatch_events_total") == VALID_N
    assert w.metric("appwatch_events_invalid_total") == len(hostile)
    assert w.proc.poll() is None  # still up, and still consuming:
    with Publisher(broker, topics) as pub:
        pub.send(validate({**METRIC, "event_id": "after"}))
        pub.flush()
    wait_until(lambda: w.metric("appwatch_events_total") == VALID_N + 1, 30, "an event after the storm")
    log = w.log.read_text(errors="replace")
    assert "Traceback" not in log and "crashed" not in log.lower(), log[-3000:]
    assert "\n2024-11-14 WARNING forged" not in log  # a hostile tag cannot start a log line of its own
    assert "\\x0a2024-11-14 WARNING forged" in log  # it is logged escaped, on the line of its warning
