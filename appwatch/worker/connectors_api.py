"""The connectors' status, on every worker:

    GET /api/v1/connectors      each connector instance's last poll, as it wrote it to the
                             compacted ``connectors.status`` topic (``connectors/runner.py``),
                             sorted by name, plus ``health``: ``ok`` (its last outcome was ok or
                             skipped), ``failing`` (error or partial) or ``stale`` (its next run
                             is more than ``STALE_AFTER`` seconds past: it missed it)

Every worker reads the whole topic (outside any group), so every worker answers alike.
It needs a read token (``core.auth``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import faust
import orjson

from core.auth import Caller, Tokens
from core.events import Topics
from streams import rewind
from streams.settings import Settings

from ..http import Answer, caller, denied, reply
from .base import follow

log = logging.getLogger(__name__)

STALE_AFTER = 600.0  # seconds past its next_run before an instance counts as stale
OUTCOMES = frozenset({"ok", "partial", "error", "skipped", "interrupted"})


def health(record: dict, now: float) -> str:
    """``stale`` when the instance missed its next run by more than ``STALE_AFTER``, else
    ``ok`` for an ok or skipped last poll, ``failing`` for any other outcome."""
    next_run = record.get("next_run")
    if isinstance(next_run, int | float) and now - next_run > STALE_AFTER:
        return "stale"
    return "ok" if record.get("outcome") in ("ok", "skipped") else "failing"


class ConnectorStatus:
    def __init__(self, tokens: Tokens, clock: Callable[[], float] = time.time) -> None:
        self.tokens, self.clock = tokens, clock
        self.by_name: dict[str, dict] = {}

    def apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        """One record of the status topic; a bad one is logged and skipped, a null value
        (a tombstone) forgets the instance of its key."""
        if value is None:
            if key:
                self.by_name.pop(key.decode(errors="replace"), None)
            return
        try:
            record = orjson.loads(value)
            if not isinstance(record, dict):
                raise ValueError("not a JSON object")
            if not isinstance(record.get("name"), str) or not record["name"]:
                raise ValueError("no name")
            if record.get("outcome") not in OUTCOMES:
                raise ValueError(f"unknown outcome {record.get('outcome')!r}")
        except ValueError as exc:
            log.warning("bad connector status record at offset %d: %s", offset, exc)
            return
        self.by_name[record["name"]] = record

    def listing(self) -> list[dict]:
        now = self.clock()
        return [{**r, "health": health(r, now)} for _, r in sorted(self.by_name.items())]

    def get(self, who: Caller | str | None) -> Answer:
        return denied(self.tokens, who, "read") or Answer(200, self.listing())

    def install(self, app: faust.App, settings: Settings, topics: Topics, checks: rewind.Checks) -> None:
        api = self

        @app.task
        async def follow_connectors_status():
            await follow(settings, topics.connectors_status, api.apply, checks)

        @app.page("/api/v1/connectors")
        class ConnectorsView(faust.web.View):
            async def get(self, request):
                return reply(self, api.get(caller(request)))
