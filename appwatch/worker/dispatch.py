"""Dispatch: count a silenced alert, note what fires (``internal.firing``, read whole by every
worker: what may inhibit what), then to the partition of each group it goes to."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import faust
import orjson

from alerts.group import group_key
from alerts.metrics import DeliveryMetrics
from alerts.pipeline import RECENT, Pipeline, forget_resolved
from core.alert import Alert
from core.events import Topics
from streams import rewind
from streams.settings import Settings

from .base import RAW, follow
from .silences import Silences

log = logging.getLogger(__name__)


class Firing(dict):
    """alert_id -> firing entry (``Pipeline.firing_entry``), fed by the compacted firing
    topic (None: gone). Resolved entries older than ``RECENT`` are not kept: one read at
    start-up skips them, and the records that come look for them once a minute at most."""

    SWEEP_EVERY = 60.0

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.clock, self.swept = clock, 0.0

    def apply(self, key: bytes, value: bytes | None, offset: int) -> None:
        now, aid = self.clock(), key.decode()
        entry = None if value is None else orjson.loads(value)
        if entry is None or (entry.get("resolvedAt") or now) < now - RECENT:
            self.pop(aid, None)
        else:
            self[aid] = entry
        if now - self.swept >= self.SWEEP_EVERY:
            self.swept = now
            forget_resolved(self, now)


class Dispatch:
    def __init__(self, pipeline: Pipeline, silences: Silences, metrics: DeliveryMetrics) -> None:
        self.pipeline, self.silences, self.metrics = pipeline, silences, metrics

    def records(self, alert: Alert) -> tuple[tuple[bytes, bytes | None], list[tuple[str, bytes]]]:
        """What an alert becomes: its firing record (key, value or None) and one
        (group key, record) per group. A silenced alert is recorded and grouped too, as
        in Alertmanager: it is listed as silenced, may inhibit, and its groups leave it
        out of their notifications until the silence ends."""
        muted = self.silences.muting(alert)
        if muted is not None and alert.status == "firing":
            self.metrics.silenced.inc()
            log.info("alert %s silenced by %s", alert.alert_id, muted.id)
        entry = self.pipeline.firing_entry(alert)
        firing = (alert.alert_id.encode(), orjson.dumps(entry) if entry else None)
        body = alert.model_dump(mode="json")
        groups = [
            (group_key(route, alert), orjson.dumps({"path": route.path, "alert": body}))
            for route in self.pipeline.routes(alert)
        ]
        return firing, groups

    def install(
        self, app: faust.App, settings: Settings, topics: Topics, checks: rewind.Checks, firing: Firing
    ) -> None:
        alerts = app.topic(topics.alerts, **RAW)
        firing_topic = app.topic(topics.firing, partitions=1, **RAW)
        groups = app.topic(topics.groups, key_serializer="json", value_serializer="raw")

        @app.agent(alerts, name="dispatch")
        async def dispatch(stream):
            async for raw in stream:
                fire, routed = self.records(Alert.model_validate_json(raw))
                await firing_topic.send(key=fire[0], value=fire[1])
                for key, value in routed:
                    await groups.send(key=key, value=value)

        @app.task
        async def follow_firing():
            await follow(settings, topics.firing, firing.apply, checks)
