"""Append each alert as one JSON line to a file (an audit trail).

The alerts of a notification are written (and synced) together.

Errors returned (never raised): a ``core.retry.DeliveryError`` whose ``__cause__`` is the
OSError (disk full, permission ...) -> retry.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path

from alerts.notify import BaseNotifier, Result
from core.alert import Alert
from core.retry import as_delivery_error


class JsonlNotifier(BaseNotifier):
    kind = "jsonl"

    def __init__(self, path: str | Path, name: str = "jsonl") -> None:
        self.name = name
        self.path = Path(path)
        self._lock = asyncio.Lock()

    def _append(self, line: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    async def notify(self, alerts: Sequence[Alert]) -> Result:
        if not alerts:
            return None
        try:
            async with self._lock:
                await asyncio.to_thread(self._append, b"".join(a.to_json() + b"\n" for a in alerts))
        except OSError as exc:
            return as_delivery_error(exc, retryable=True)
        return None
