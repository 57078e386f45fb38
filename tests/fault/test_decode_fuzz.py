"""Hostile event payloads through the real path: decode -> validate -> DLQ record.

Hypothesis drives ~10k cases: arbitrary bytes, one-field mutations of valid events,
and valid events generated from the contract. The oracle, for every input:

* ``decode`` raises nothing but ``InvalidEvent``;
* an invalid input yields a DLQ record (``streams.dlq.record``) whose reason is a
  low-cardinality label naming the field, whose error is one printable line, and
  whose raw payload gives back the exact bytes;
* a valid event is accepted unchanged (every field it had is kept, and its
  re-serialised form decodes to the same event): no valid event is lost.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from faust.utils import json as faust_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.events import (
    MAX_EVENT_BYTES,
    TS_MAX,
    TS_MIN,
    AppMetric,
    AppRank,
    InvalidEvent,
    MetricEvent,
    News,
    decode,
    decode_fast,
    validate,
)
from streams import dlq, rules
from streams.engine import Engine
from tests.fault.strategies import hostile_bytes, mutated_events, seeds, valid_events, within_bounds

FIELDS = {*AppMetric.model_fields, *AppRank.model_fields, *News.model_fields, "event"}
SIMPLE_REASONS = ("json", "too_large", "too_deep", "not_object")
FIELD_REASON = re.compile(r"^(?P<field>[a-z_]+):(?P<error>[a-z_]+)$")
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], database=None)


def as_bytes(raw: bytes | str) -> bytes:
    return raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")


def check_rejected(raw: bytes | str, exc: InvalidEvent) -> dict:
    """The DLQ record of a rejected input, checked; returns it."""
    reason, message = exc.reason, str(exc)
    m = FIELD_REASON.match(reason)
    assert reason in SIMPLE_REASONS or (m and m["field"] in FIELDS), reason
    if m:  # the label names a contract field; the message names the field (with its index)
        assert exc.field.split(".")[0] == m["field"]
        assert message.startswith(f"{exc.field}: ") or f"{exc.field}: " in message
    assert message and message.splitlines() == [message] and not any(ord(c) < 0x20 for c in message)
    assert len(message) < 1200
    out = dlq.record(as_bytes(raw), reason, message, "appwatch.events.metrics", 3, 42, now=1.5)
    rec = orjson.loads(out)
    assert (rec["reason"], rec["error"]) == (reason, message)
    assert (rec["topic"], rec["partition"], rec["offset"], rec["failed_at"]) == ("appwatch.events.metrics", 3, 42, 1.5)
    assert raw_of(rec) == as_bytes(raw)
    assert len(out) <= dlq.MAX_RECORD
    return rec


def raw_of(rec: dict) -> bytes:
    """The payload a DLQ record carries; for a truncated one, checked against its size and hash
    by the caller through ``matches``."""
    return rec["raw"].encode("utf-8") if "raw" in rec else base64.b64decode(rec["raw_b64"])


def matches(rec: dict, raw: bytes) -> bool:
    """Does DLQ record ``rec`` carry ``raw`` (whole, or its head with the size and hash of the whole)?"""
    got = raw_of(rec)
    if rec.get("raw_truncated"):
        return (
            rec["raw_size"] == len(raw)
            and rec["raw_sha256"] == hashlib.sha256(raw).hexdigest()
            and raw.startswith(got)
            and len(got) == dlq.KEEP
        )
    return got == raw


def through(raw: bytes | str):
    """decode -> the event, or the DLQ record of the rejection. Any other exception fails.

    An accepted event must survive what the worker and the connectors do next:
    re-serialised (``to_json``) and wrapped for the control topic (``orjson.dumps``).
    The detect stage's ``decode_fast`` must agree: the same event, or the same error."""
    fast = fast_or_error(raw)
    try:
        ev = decode(raw)
    except InvalidEvent as exc:
        check_rejected(raw, exc)
        assert isinstance(fast, InvalidEvent), f"decode_fast took what decode refuses ({exc}): {fast!r}"
        assert (fast.reason, str(fast)) == (exc.reason, str(exc))
        return exc
    assert_same(fast, ev)
    ev.to_json()
    orjson.dumps({"event": orjson.loads(raw), "observed_at": 1.0})
    return ev


def fast_or_error(raw: bytes | str):
    try:
        return decode_fast(as_bytes(raw))
    except InvalidEvent as exc:
        return exc


def assert_same(fast, ev) -> None:
    """``decode_fast``'s event is ``decode``'s: the same fields, the same instant and offset."""
    assert not isinstance(fast, InvalidEvent), f"decode_fast refused a valid event: {fast}"
    if not isinstance(fast, MetricEvent):
        assert fast == ev
        return
    for name in (
        "event_id",
        "source",
        "app_id",
        "app_name",
        "platform",
        "country",
        "metric",
        "value",
        "period",
        "mode",
        "type",
    ):
        assert getattr(fast, name) == getattr(ev, name), name
    assert fast.ts == ev.ts and fast.ts.utcoffset() == ev.ts.utcoffset() and fast.ts.isoformat() == ev.ts.isoformat()
    assert fast.epoch == ev.epoch


def assert_unchanged(obj: dict, ev) -> None:
    out = orjson.loads(ev.to_json())
    for key, value in obj.items():
        if value is None:  # null and absent are the same to the contract
            assert out.get(key) is None, key
        elif key == "ts":
            got, want = datetime.fromisoformat(out["ts"]), datetime.fromisoformat(value)
            assert got == want and got.utcoffset() == want.utcoffset()
        else:
            assert out[key] == value, key
    assert set(out) - set(obj) <= {"mode", "category"}  # only the contract's defaults added
    again = decode(ev.to_json())  # republished (connectors, ingest): the same event
    assert again.to_json() == ev.to_json() and type(again) is type(ev)


# --------------------------------------------------------------------------- hypothesis
# Bulk: one seed per example, payloads built by ``Gen`` (fast). Rich: hypothesis'
# own strategies (shrinkable, slower). 10,450 examples in all.


@settings(FUZZ, max_examples=4000)
@given(seeds())
def test_arbitrary_input_is_an_event_or_a_dlq_record(gen):
    through(gen.hostile())


@settings(FUZZ, max_examples=3000)
@given(seeds())
def test_one_broken_field_is_rejected_naming_that_field(gen):
    obj, field = gen.mutated()
    check_mutation(obj, field)


@settings(FUZZ, max_examples=3000)
@given(seeds())
def test_valid_events_are_accepted_unchanged(gen):
    check_valid(gen.event(), gen.r.random() < 0.3)


@settings(FUZZ, max_examples=150)
@given(st.one_of(hostile_bytes(), st.text(max_size=200)))
def test_arbitrary_input_rich(raw):
    through(raw)


@settings(FUZZ, max_examples=150)
@given(mutated_events())
def test_one_broken_field_rich(case):
    check_mutation(*case)


@settings(FUZZ, max_examples=150)
@given(valid_events(), st.booleans())
def test_valid_events_rich(obj, indent):
    check_valid(obj, indent)


FAST_EDGES = st.one_of(
    st.from_regex(
        r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?"
        r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?\n?\Z"
    ),
    st.sampled_from(
        [
            "1969-12-31T23:30:00-01:00",
            "1970-01-01T00:30:00+01:00",
            "1970-01-01T00:00:00Z",
            "9998-12-31T23:00:00-05:00",
            "9999-01-01T00:00:00Z",
            "2024-11-14T24:00:00+08:00",
            "2024-02-30T00:00:00Z",
            "2024-11-14T00:00:00+24:00",
            "2024-11-14T00:00:00.1234567Z",
        ]
    ),
)


@settings(FUZZ, max_examples=600)
@given(
    FAST_EDGES,
    st.sampled_from(["cn", "us", "CN", "cn\n", "c", ""]),
    st.sampled_from(["doubao", "dou bao", "-x", "a" * 64, "a" * 65, "doubao\n", "豆包"]),
)
def test_decode_fast_agrees_at_the_edges_of_what_it_takes(ts, country, app_id):
    """Timestamps, countries and app ids at the edges of the fast path's own checks: it
    takes them as pydantic does, or hands them to it."""
    through(
        orjson.dumps(
            dict(
                event_id="e",
                type="app.metric",
                source="s",
                ts=ts,
                app_id=app_id,
                platform="all",
                country=country,
                metric="downloads",
                value=1,
                period="day",
            )
        )
    )


def check_mutation(obj: dict, field: str) -> None:
    res = through(orjson.dumps(obj))
    assert isinstance(res, InvalidEvent), f"{field}={obj.get(field)!r} was accepted"
    assert res.field.split(".")[0] == field, (res.reason, str(res))


def check_valid(obj: dict, indent: bool) -> None:
    raw = orjson.dumps(obj, option=orjson.OPT_INDENT_2 if indent else 0)
    ev = through(raw)
    assert not isinstance(ev, InvalidEvent), f"valid event rejected: {ev.reason}: {ev}"
    assert_unchanged(obj, ev)
    assert through(raw.decode("utf-8")) == ev  # as text too


class Table(dict):
    """A Faust table's round trip: every value written is serialised as Faust does (orjson)."""

    def __setitem__(self, key, value):
        super().__setitem__(key, faust_json.loads(faust_json.dumps(value)))


ENGINE = Engine(rules.load(), {"doubao": "ByteDance", "kimi": "Moonshot AI", "tongyi": "Alibaba"})


@settings(FUZZ, max_examples=150)
@given(seeds())
def test_valid_event_streams_never_crash_the_detectors(gen):
    """What decode accepts, the worker's engine (default rules) must digest: a stream of
    valid events, mostly on one series so that rules have history, huge values included."""
    r, state = gen.r, Table()
    app, country = r.choice(["doubao", "kimi", gen.slug()]), r.choice(["cn", "us", "ww"])
    start = datetime.fromisoformat(r.choice([gen.ts(), "2024-11-01T00:00:00+08:00"]))
    for _ in range(20):
        obj = gen.event()
        if obj["type"] != "news" and r.random() < 0.8:
            obj |= {"app_id": app, "country": country}
        if r.random() < 0.7:
            ts = start + timedelta(hours=r.randint(-48, 24 * 12))
            obj["ts"] = min(max(ts, TS_MIN), TS_MAX - timedelta(seconds=1)).isoformat()
        if obj["type"] == "app.metric" and r.random() < 0.7:
            obj |= {"metric": "downloads", "value": r.choice([gen.number(), r.uniform(0, 2e6)])}
        ev = through(orjson.dumps(obj))
        if isinstance(ev, InvalidEvent):
            continue
        for alert in ENGINE.process(ev, state):
            orjson.loads(alert.to_json())


@pytest.mark.parametrize("ts", [TS_MIN, TS_MAX - timedelta(microseconds=1)])
@pytest.mark.parametrize("offset", [-14, -1, 0, 1, 14])
def test_the_edges_of_the_ts_range_are_computable(ts, offset):
    """Both ends of the accepted range, in any offset: the rules' day arithmetic holds."""
    local = ts.astimezone(timezone(timedelta(hours=offset)))
    state = Table()
    for i, kind in enumerate(["app.metric", "app.rank", "news"]):
        obj = dict(
            event_id=f"e{i}",
            type=kind,
            source="edge",
            ts=local.isoformat(),
            app_id="doubao",
            platform="all",
            country="cn",
            metric="downloads",
            value=1e6 * (i + 1),
            period="day",
            mode="delta",
            chart="top-free",
            rank=1,
            url="u",
            title="ByteDance 豆包",
            companies=["ByteDance"],
        )
        for alert in ENGINE.process(decode(orjson.dumps(obj)), state):
            orjson.loads(alert.to_json())
    ENGINE.finish(state)


# --------------------------------------------------------------------------- regressions found by the fuzz


def test_a_null_record_is_invalid_not_a_crash():
    """A Kafka record with a null value (tombstone) reached decode(None) -> TypeError, crashing the agent."""
    with pytest.raises(InvalidEvent) as info:
        decode(None)
    assert info.value.reason == "json"
    rec = orjson.loads(dlq.record(None, info.value.reason, str(info.value), "t", 0, 0))
    assert rec["raw"] == "" and "no value" in rec["error"]


@pytest.mark.parametrize(
    "ts",
    [
        "9999-12-31T23:59:59-14:00",
        "9999-06-01T00:00:00Z",
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
    ],
)
def test_ts_outside_the_computable_range_is_invalid(ts):
    """These passed the contract, then overflowed converting to the rules' time zone
    (OverflowError in the detect agent: a crash of the worker)."""
    obj = orjson.loads(
        orjson.dumps(
            dict(
                event_id="e",
                type="app.metric",
                source="s",
                ts=ts,
                app_id="doubao",
                platform="all",
                country="cn",
                metric="downloads",
                value=1,
                period="day",
            )
        )
    )
    with pytest.raises(InvalidEvent) as info:
        decode(orjson.dumps(obj))
    assert info.value.reason == "ts:value_error" and "1970-01-01" in str(info.value)


def test_the_reason_label_has_no_list_index_and_the_field_keeps_it():
    """One Prometheus series per list index ('companies.0', 'companies.1' ...) was a cardinality bomb."""
    reasons = set()
    for i in range(50):
        obj = dict(
            event_id="n",
            type="news",
            source="s",
            ts="2024-11-13T10:00:00+08:00",
            url="u",
            title="t",
            companies=["ok"] * i + [1],
        )
        with pytest.raises(InvalidEvent) as info:
            decode(orjson.dumps(obj))
        reasons.add(info.value.reason)
        assert info.value.field == f"companies.{i}" and str(info.value).startswith(f"companies.{i}: ")
    assert reasons == {"companies:string_type"}


def test_input_echoed_in_the_message_cannot_forge_log_lines():
    forged = "x\n2024-11-14 WARNING streams.app: all good\u2028\u202e" + "y" * 100_00
    with pytest.raises(InvalidEvent) as info:
        decode(orjson.dumps({"event_id": "e", "type": forged}))
    msg = str(info.value)
    assert info.value.reason == "type:union_tag_invalid"
    assert msg.splitlines() == [msg] and "\\x0a2024-11-14" in msg and len(msg) < 400


# --------------------------------------------------------------------------- size, depth, numbers


def bounded(raw: bytes, *, seconds: float = 1.0, megabytes: float = 50.0) -> InvalidEvent:
    exc = within_bounds(lambda: decode(raw), InvalidEvent, seconds=seconds, megabytes=megabytes)
    rec = orjson.loads(dlq.record(raw, exc.reason, str(exc), "t", 0, 0))
    assert matches(rec, raw)
    return exc


VALID = orjson.dumps(
    dict(
        event_id="e1",
        type="app.metric",
        source="t",
        ts="2024-11-14T00:00:00+08:00",
        app_id="doubao",
        platform="all",
        country="cn",
        metric="downloads",
        value=1,
        period="day",
    )
)


@pytest.mark.parametrize(
    "name, raw",
    [
        ("10 MB string", VALID[:-1] + b',"pad":"' + b"x" * 10_000_000 + b'"}'),
        ("10 MB of Chinese", VALID[:-1] + b',"title":"' + "豆包".encode() * 1_700_000 + b'"}'),
        ("10 MB array", b"[" + b"1," * 5_000_000 + b"1]"),
        ("100k nested arrays", b"[" * 100_000 + b"]" * 100_000),
        ("100k nested objects", b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
        ("one byte over", VALID[:-1] + b',"pad":"' + b"x" * (MAX_EVENT_BYTES - len(VALID) - 8) + b'"}'),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_oversized_input_is_rejected_before_parsing(name, raw):
    assert len(raw) > MAX_EVENT_BYTES
    assert bounded(raw).reason == "too_large"


@pytest.mark.parametrize(
    "depth, reason", [(33, "too_deep"), (300, "too_deep"), (1_000, "too_deep"), (5_000, "json"), (20_000, "json")]
)
def test_deep_nesting_under_the_size_limit_is_rejected(depth, reason):
    """orjson parses 1024 levels but serialises only 254: an event nested 255+ deep was
    accepted, then crashed the worker re-serialising it for the control topic."""
    nests = [b"[" * depth + b"]" * depth]
    if depth * 6 < MAX_EVENT_BYTES:
        nests.append(b'{"a":' * depth + b"1" + b"}" * depth)
    for nest in nests:
        raw = VALID[:-1] + b',"x":' + nest + b"}"
        assert len(raw) <= MAX_EVENT_BYTES
        assert bounded(raw).reason == reason
    assert bounded(b"[" * depth + b"]" * depth).reason in ("not_object", "json")


def test_the_deepest_accepted_event_can_be_republished():
    raw = VALID[:-1] + b',"x":' + b"[" * 31 + b"]" * 31 + b"}"  # 32 levels with the event itself
    through(raw)  # accepted, and re-serialisable (see through)
    with pytest.raises(InvalidEvent) as info:
        validate(orjson.loads(VALID[:-1] + b',"x":' + b"[" * 32 + b"]" * 32 + b"}"))  # ingest's path too
    assert info.value.reason == "too_deep"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\xff\xfe", id="bom-utf16-alone"),
        pytest.param(VALID[:-1] + b',"app_name":"\xe8\xb1"}', id="truncated-sequence"),
        pytest.param(VALID[:-1] + b',"app_name":"\xed\xa0\x80"}', id="encoded-surrogate"),
        pytest.param(VALID[:-1] + b',"app_name":"\xc0\xaf"}', id="overlong"),
        pytest.param(VALID[:-1] + b',"app_name":"\xf8\x88\x80\x80\x80"}', id="5-byte-form"),
        pytest.param(VALID[:-1] + b',"app_name":"\\ud800"}', id="lone-surrogate-escape"),
        pytest.param(b"\xef\xbb\xbf" + VALID, id="utf8-bom"),
        pytest.param(VALID.decode().encode("utf-16"), id="utf-16"),
        pytest.param("豆包".encode("gb18030") + VALID, id="gb18030"),
    ],
)
def test_invalid_utf8_is_rejected(raw):
    assert bounded(raw).reason == "json"


@pytest.mark.parametrize(
    "number",
    [b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"inf", b"1e400", b"-1e400", b"1e999999999", b"9" * 400 + b".0e400"],
)
@pytest.mark.parametrize("field", [b"value", b"rank", b"extra"])
def test_non_finite_numbers_are_rejected(number, field):
    if field == b"rank":
        raw = (
            b'{"event_id":"r","type":"app.rank","source":"t","ts":"2024-11-14T09:00:00Z","app_id":"kimi",'
            b'"platform":"ios","country":"cn","chart":"top-free","rank":' + number + b"}"
        )
    elif field == b"value":
        raw = VALID.replace(b'"value":1', b'"value":' + number)
    else:  # even in a field the contract does not know: it would be republished
        raw = VALID[:-1] + b',"extra":' + number + b"}"
    assert number in raw
    assert bounded(raw).reason == "json"


@pytest.mark.parametrize(
    "value, ok",
    [
        (b"1e308", True),
        (b"1.7976931348623157e308", True),
        (b"1e-400", True),
        (b"-0", True),
        (b"123456789012345678901234567890", True),
        (b"-1e-300", False),
        (b'"1e400"', False),
        (b'"NaN"', False),
        (b'"Infinity"', False),
    ],
)
def test_finite_extremes_are_judged_by_the_contract(value, ok):
    raw = VALID.replace(b'"value":1', b'"value":' + value)
    if ok:
        ev = decode(raw)
        assert ev.value >= 0 and ev.value != float("inf")
    else:
        assert bounded(raw).reason.startswith("value:")


# --------------------------------------------------------------------------- the DLQ record itself


@pytest.mark.parametrize(
    "raw, truncated",
    [
        pytest.param(b"\x01" * 900_000, True, id="900KB of control characters (x6 when JSON-escaped)"),
        pytest.param(b"\xff" * 900_000, True, id="900KB not UTF-8 (base64)"),
        pytest.param("豆包".encode() * 200_000, True, id="1.2MB of Chinese"),
        pytest.param(b"x" * 10_000_000, True, id="10MB"),
        pytest.param(b'"' * 60_000, False, id="60KB of quotes (x2 escaped, fits)"),
        pytest.param(b"\x01" * 60_000, False, id="60KB of control characters (x6, kept whole in base64)"),
        pytest.param(b"a" * (dlq.MAX_RECORD - 200), False, id="just under the limit"),
    ],
)
def test_a_dlq_record_always_fits_on_the_topic(raw, truncated):
    """A record over the producer's 1 MB limit failed to send and crashed the detect agent
    (900 KB of \\x01 became a 5.4 MB record); now a record is at most MAX_RECORD bytes."""
    out = dlq.record(raw, "too_large", "event is too large", "appwatch.events.metrics", 1, 2, now=3.0)
    assert len(out) <= dlq.MAX_RECORD
    rec = orjson.loads(out)
    assert rec["reason"] == "too_large" and rec["offset"] == 2
    assert matches(rec, raw)
    assert bool(rec.get("raw_truncated")) is truncated


def test_a_huge_error_message_is_capped():
    rec = orjson.loads(dlq.record(b"{}", "x", "e" * 100_000, "t", 0, 0))
    assert len(rec["error"]) <= dlq.MAX_ERROR + 3
