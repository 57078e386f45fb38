"""Atheris (libFuzzer) harness: raw bytes -> decode -> validate -> DLQ record.

    python tests/fault/fuzz_decode.py -atheris_runs=20000
    python tests/fault/fuzz_decode.py -max_total_time=600 corpus/   # longer, keeping a corpus

The same oracle as tests/fault/test_decode_fuzz.py: ``decode`` raises nothing but
``InvalidEvent``; a rejected input becomes a DLQ record that gives back the exact
bytes, with a low-cardinality reason and a one-line message; an accepted event
re-serialises (``to_json``) and wraps for the control topic (``orjson.dumps``).

Without a corpus the first byte picks how the rest is used: as the raw record, spliced
into a valid event, or as the JSON value of one field of a valid event, so that the
fuzzer reaches validation, not only the JSON parser.
"""

from __future__ import annotations

import base64
import sys

import atheris

with atheris.instrument_imports(include=["streams"]):
    import orjson

    from core.events import InvalidEvent, decode
    from streams import dlq

TEMPLATES = [
    {
        "event_id": "m1",
        "type": "app.metric",
        "source": "fuzz",
        "ts": "2024-11-14T00:00:00+08:00",
        "app_id": "doubao",
        "app_name": "豆包",
        "platform": "all",
        "country": "cn",
        "metric": "downloads",
        "value": 800000,
        "period": "day",
        "mode": "delta",
    },
    {
        "event_id": "r1",
        "type": "app.rank",
        "source": "fuzz",
        "ts": "2024-11-14T09:00:00Z",
        "app_id": "kimi",
        "platform": "ios",
        "country": "cn",
        "chart": "top-free",
        "category": "all",
        "rank": 3,
    },
    {
        "event_id": "n1",
        "type": "news",
        "source": "fuzz",
        "ts": "2024-11-13T10:00:00+08:00",
        "url": "https://e.com/a",
        "title": "字节跳动挖角通义千问技术负责人",
        "companies": ["ByteDance", "Alibaba"],
        "people": ["Zhuo Chang"],
        "kind": "hire",
        "lang": "zh",
    },
]
RAW_TEMPLATES = [orjson.dumps(t) for t in TEMPLATES]
REASONS = ("json", "too_large", "too_deep", "not_object")


def payload(data: bytes) -> bytes:
    if not data:
        return data
    mode, fdp = data[0] % 3, atheris.FuzzedDataProvider(data[1:])
    if mode == 0:
        return data[1:]
    which = fdp.ConsumeIntInRange(0, len(TEMPLATES) - 1)
    if mode == 1:  # splice bytes into a valid event
        raw = RAW_TEMPLATES[which]
        i = fdp.ConsumeIntInRange(0, len(raw))
        j = fdp.ConsumeIntInRange(i, len(raw))
        return raw[:i] + fdp.ConsumeBytes(fdp.remaining_bytes()) + raw[j:]
    obj = dict(TEMPLATES[which])  # one field's value (or a new field) is fuzzed JSON text
    keys = [*obj, "extra"]
    key = keys[fdp.ConsumeIntInRange(0, len(keys) - 1)]
    obj[key] = "\x00"
    marker = orjson.dumps("\x00")
    return orjson.dumps(obj).replace(marker, fdp.ConsumeBytes(fdp.remaining_bytes()), 1)


def check(raw: bytes) -> None:
    try:
        ev = decode(raw)
    except InvalidEvent as exc:
        reason, message = exc.reason, str(exc)
        assert reason in REASONS or (":" in reason and not any(p.isdigit() for p in reason.split(":")[0].split("."))), (
            reason
        )
        assert message and message.splitlines() == [message] and len(message) < 1200, message
        rec = orjson.loads(dlq.record(raw, reason, message, "appwatch.events.metrics", 0, 1))
        back = rec["raw"].encode("utf-8") if "raw" in rec else base64.b64decode(rec["raw_b64"])
        assert back == raw and rec["reason"] == reason
        return
    ev.to_json()
    orjson.dumps({"event": orjson.loads(raw), "observed_at": 1.0})


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    check(payload(data))


DEFAULTS = ("-max_len=8192", "-len_control=0")  # long inputs from the start (events are ~300 B)


def main() -> None:
    argv = [*sys.argv, *(d for d in DEFAULTS if not any(a.startswith(d.split("=")[0] + "=") for a in sys.argv))]
    atheris.Setup(argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
