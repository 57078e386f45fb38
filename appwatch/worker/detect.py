"""Detect: the batch stage over ``events.*`` (series rules) and the control agent (ranks,
news, deadman, correlation), which turns control records into alerts on ``alerts``."""

from __future__ import annotations

import time
from types import SimpleNamespace

import faust
import orjson

from core.alert import Alert
from core.events import Topics, validate
from streams import rewind, rules
from streams.engine import Engine
from streams.metrics import StreamMetrics
from streams.settings import Settings
from streams.stage import DetectStage, Stage

from .base import RAW

SWEEP_EVERY = 5.0  # seconds between deadman sweeps


class Detect:
    def __init__(
        self,
        settings: Settings,
        topics: Topics,
        metrics: StreamMetrics,
        checks: rewind.Checks,
        companies: dict[str, str] | None = None,
    ) -> None:
        self.topics, self.metrics = topics, metrics
        self.engine = Engine(
            rules.load(settings.rules),
            companies,
            on_too_late=lambda ev: metrics.too_late.inc(),
            on_news=metrics.observe_news,
            on_ahead=lambda ev: metrics.ahead.inc(),
            on_duplicate=lambda ev: metrics.duplicates.inc(),
        )
        self.stage = DetectStage(Stage(self.engine, topics, metrics), settings, metrics, checks)

    def control(self, item: dict, table) -> list[Alert]:
        """The alerts one control record gives, correlated: an alert the stage found, a
        rank or news event, an app's day for its market, a source seen, or the sweep's
        tick (deadman, market days whose wait passed)."""
        engine = self.engine
        if "alert" in item:
            out = [Alert.model_validate(item["alert"])]
        elif "event" in item:
            ev = validate(item["event"])
            at = item.get("observed_at")
            out = engine.rank(ev, table, at) if ev.type == "app.rank" else engine.news(ev, table, at)
        elif "moves" in item:
            out = [a for move in item["moves"] for a in engine.market(move, table)]
        elif "seen" in item:
            out = engine.seen(SimpleNamespace(source=item["seen"], type=item["type"]), item["at"], table)
        else:
            out = engine.sweep(item["tick"], table)
        return [engine.correlate(alert, table) for alert in out]

    def observe(self, alert: Alert, now: float) -> None:
        self.metrics.alerts.labels(alert.rule, alert.severity).inc()
        if alert.observed_at:
            self.metrics.event_to_alert.observe(max(0.0, now - alert.observed_at))

    def install(self, app: faust.App) -> None:
        app.service(self.stage)
        table = app.Table("control", partitions=1)
        control = app.topic(self.topics.control, partitions=1, **RAW)
        alerts = app.topic(self.topics.alerts, **RAW)

        @app.agent(control, name="control")
        async def control_agent(stream):
            async for raw in stream:
                for alert in self.control(orjson.loads(raw), table):
                    self.observe(alert, time.time())
                    await alerts.send(key=alert.alert_id.encode(), value=alert.to_json())

        @app.timer(SWEEP_EVERY, on_leader=True)
        async def tick():
            await control.send(key=b"c", value=orjson.dumps({"tick": time.time()}))
