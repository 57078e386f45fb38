"""Per-instance checkpoints: one JSON file in a state dir, written atomically.

A checkpoint holds what a restart must not forget:
- ``http``: ETag / Last-Modified per URL, for conditional GETs;
- ``seen``: the last N published event ids, so a restart emits nothing twice;
- ``data``: free-form state owned by the connector (``ctx.state``).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

VERSION = 1
SEEN_LIMIT = 50_000


class Checkpoint:
    def __init__(self, path: Path, *, seen_limit: int = SEEN_LIMIT) -> None:
        self.path = Path(path)
        self.seen_limit = seen_limit
        self.http: dict[str, dict[str, str]] = {}
        self.data: dict = {}
        self._seen: OrderedDict[str, None] = OrderedDict()

    @classmethod
    def load(cls, path: Path, *, seen_limit: int = SEEN_LIMIT) -> Checkpoint:
        """Read ``path``; a missing file is an empty checkpoint, a corrupt one is moved aside."""
        cp = cls(path, seen_limit=seen_limit)
        try:
            raw = json.loads(cp.path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
        except FileNotFoundError:
            return cp
        except (OSError, ValueError) as exc:
            aside = cp.path.with_suffix(".corrupt")
            log.error("checkpoint %s is unreadable (%s); moved to %s, starting empty", cp.path, exc, aside)
            os.replace(cp.path, aside)
            return cp
        cp.http = dict(raw.get("http") or {})
        cp.data = dict(raw.get("data") or {})
        cp.remember(raw.get("seen") or [])
        return cp

    def seen(self, event_id: str) -> bool:
        return event_id in self._seen

    def remember(self, ids: Iterable[str]) -> None:
        for i in ids:
            self._seen[i] = None
            self._seen.move_to_end(i)
        while len(self._seen) > self.seen_limit:
            self._seen.popitem(last=False)

    def to_dict(self) -> dict:
        return {"version": VERSION, "http": self.http, "data": self.data, "seen": list(self._seen)}

    def save(self) -> None:
        """Write to a temp file in the same dir, fsync, then os.replace: never half a file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, ensure_ascii=False, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
