"""Dead-letter records: the raw payload, the reason, and where it came from."""

from __future__ import annotations

import base64
import time

import orjson


def record(raw: bytes | None, reason: str, error: str, topic: str, partition: int,
           offset: int, now: float | None = None) -> bytes:
    raw = raw or b""
    try:
        payload = {"raw": raw.decode("utf-8")}
    except UnicodeDecodeError:
        payload = {"raw_b64": base64.b64encode(raw).decode()}
    return orjson.dumps({
        "reason": reason, "error": error, **payload,
        "topic": topic, "partition": partition, "offset": offset,
        "failed_at": now if now is not None else time.time(),
    })
