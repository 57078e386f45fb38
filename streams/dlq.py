"""Dead-letter records: the raw payload, the reason, and where it came from.

A record must fit on the DLQ topic whatever the payload: JSON escaping can make a
UTF-8 payload six times larger (``\\u0001``), base64 a third larger, and a record over
the producer's limit (1 MB by default) failed to send and crashed the detect agent.
So a record is at most ``MAX_RECORD`` bytes: when the whole payload does not fit, its
first ``KEEP`` bytes are kept (base64), with ``raw_truncated``, ``raw_size`` and
``raw_sha256`` of the whole.
"""

from __future__ import annotations

import base64
import hashlib
import time

import orjson

MAX_RECORD = 256 * 1024  # bytes of one DLQ record
KEEP = 64 * 1024  # bytes of the payload kept when the whole does not fit
MAX_ERROR = 4096  # characters of the error message


def record(
    raw: bytes | None, reason: str, error: str, topic: str, partition: int, offset: int, now: float | None = None
) -> bytes:
    raw = raw or b""
    error = error if len(error) <= MAX_ERROR else error[:MAX_ERROR] + "..."
    try:
        payload: dict = {"raw": raw.decode("utf-8")}
    except UnicodeDecodeError:
        payload = {"raw_b64": base64.b64encode(raw).decode()}
    where = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "failed_at": now if now is not None else time.time(),
    }
    out = orjson.dumps({"reason": reason, "error": error, **payload, **where})
    if len(out) <= MAX_RECORD:
        return out
    head = raw[:KEEP]
    payload = {"raw_b64": base64.b64encode(head).decode()}
    if len(head) < len(raw):
        payload |= {"raw_truncated": True, "raw_size": len(raw), "raw_sha256": hashlib.sha256(raw).hexdigest()}
    return orjson.dumps({"reason": reason, "error": error, **payload, **where})
