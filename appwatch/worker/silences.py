"""Silences: every worker reads the whole compacted silences topic (outside the group);
the API publishes new and expired silences to it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import faust

from alerts.group import routing_labels
from alerts.silence import Silence, silenced
from core.alert import Alert
from core.events import Topics
from streams import rewind
from streams.settings import Settings

from .base import RAW, follow

log = logging.getLogger(__name__)


class Silences:
    def __init__(self, clock: Callable[[], float] = time.time, read_back: float = 5.0) -> None:
        """``read_back``: how long ``publish`` waits to read its silence back from the topic."""
        self.by_id: dict[str, Silence] = {}
        self.clock, self.read_back = clock, read_back
        self.send: Callable[[Silence], Awaitable[None]] | None = None  # set by install

    def apply(self, key: bytes, value: bytes | None, offset: int) -> None:
        """One record of the silences topic; a bad one is logged and skipped."""
        try:
            s = Silence.model_validate_json(value)
        except ValueError as exc:
            log.warning("bad silence record at offset %d: %s", offset, exc)
            return
        self.by_id[s.id] = s

    def active(self) -> list[Silence]:
        now = self.clock()
        return [s for s in self.by_id.values() if s.active(now)]

    def current(self) -> list[Silence]:
        """Active and pending ones: those that have not ended."""
        now = self.clock()
        return [s for s in self.by_id.values() if s.ends_at > now]

    def muting(self, alert: Alert) -> Silence | None:
        return silenced(routing_labels(alert), self.by_id, self.clock())

    def ended(self, silence_id: str) -> Silence | None:
        """The silence ending now (as published by expire), or None if there is none."""
        s = self.by_id.get(silence_id)
        if s is None:
            return None
        return s.model_copy(update={"ends_at": min(s.ends_at, self.clock())})

    async def publish(self, s: Silence) -> None:
        """Send ``s``, then wait until this worker has read it back (up to ``read_back``
        seconds): a list right after a change shows the change, in the API and the console."""
        await self.send(s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.read_back
        while self.by_id.get(s.id) != s:
            if loop.time() >= deadline:
                log.warning("silence %s sent, not read back within %.0fs", s.id, self.read_back)
                return
            await asyncio.sleep(0.02)

    def install(self, app: faust.App, settings: Settings, topics: Topics, checks: rewind.Checks) -> None:
        topic = app.topic(topics.silences, partitions=1, **RAW)

        async def send(s: Silence) -> None:
            await topic.send(key=s.id.encode(), value=s.to_json())

        self.send = send

        @app.task
        async def follow_silences():
            await follow(settings, topics.silences, self.apply, checks)
