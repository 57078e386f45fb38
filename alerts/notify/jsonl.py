"""Append each alert as one JSON line to a file (an audit trail).

Errors returned (never raised): OSError (disk full, permission ...) -> retry.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from core.alert import Alert
from alerts.notify import Result


class JsonlNotifier:
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

    async def notify(self, alert: Alert) -> Result:
        try:
            async with self._lock:
                await asyncio.to_thread(self._append, alert.to_json() + b"\n")
        except OSError as exc:
            return True, exc
        return False, None
