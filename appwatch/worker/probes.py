"""Probes: ``/healthz`` (liveness, what this worker owns), ``/readyz`` (joined, tables
recovered, broker reachable, positions compared with the logs' ends), the broker probe,
consumer lag for ``/metrics`` and what a rebalance changes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import faust

from core.events import Topics
from streams import rewind
from streams.metrics import StreamMetrics
from streams.stage import DetectStage

from .base import reachable
from .outbox import Outbox

BROKER_PROBE_EVERY = 2.0  # seconds between broker reachability checks (readiness)


class Probes:
    def __init__(self, bootstrap: str, checks: rewind.Checks, clock: Callable[[], float] = time.monotonic) -> None:
        self.bootstrap, self.checks, self.clock = bootstrap, checks, clock
        self.joined = False
        self.broker_ok = True
        self.rebalance_started = clock()
        checks.add("streams")

    def reasons(self, stage_ready: bool, rebalancing: bool) -> list[str]:
        """Why /readyz says no: empty when ready."""
        return [
            why
            for why, bad in (
                ("not joined or tables recovering", not self.joined),
                ("detect stage joining or restoring", not stage_ready),
                ("rebalancing", rebalancing),
                ("broker unreachable", not self.broker_ok),
                ("positions not yet compared with the logs", bool(self.checks.pending())),
            )
            if bad
        ]

    def probed(self, ok: bool) -> None:
        if ok and not self.broker_ok:
            self.checks.broker_back()  # it may have come back without its data
        self.broker_ok = ok

    def install(
        self,
        app: faust.App,
        stage: DetectStage,
        topics: Topics,
        metrics: StreamMetrics,
        outbox: Outbox,
        on_joined: Callable[[], None],
    ) -> None:
        """The probes' pages and timers; after each rebalance the outbox learns the groups'
        partitions this worker owns, then ``on_joined()``."""
        not_ready = lambda: self.reasons(stage.ready, app.rebalancing)  # noqa: E731
        metrics.ready.set_function(lambda: 0 if not_ready() else 1)

        async def check_streams():
            return await rewind.rewind_faust(app.consumer, app.tables.changelog_topics)

        async def check_after_rebalance():
            while app.rebalancing:  # Faust seeks to the committed offsets last
                await asyncio.sleep(0.05)
            await self.checks.run("streams", check_streams)

        @app.timer(BROKER_PROBE_EVERY)
        async def probe_broker():
            self.probed(await reachable(self.bootstrap))
            if self.broker_ok and self.joined and not app.rebalancing:
                await self.checks.run("streams", check_streams)

        @app.on_partitions_revoked.connect
        async def _rebalancing(sender, revoked, **kwargs):
            self.rebalance_started = self.clock()
            self.checks.moved("streams")

        @app.on_rebalance_complete.connect
        async def _ready(sender, **kwargs):
            metrics.rebalances.inc()
            metrics.recovery.set(self.clock() - self.rebalance_started)
            outbox.assigned(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topics.groups)
            asyncio.ensure_future(check_after_rebalance())
            self.joined = True
            on_joined()

        self.not_ready = not_ready
        self._pages(app, stage, topics, outbox)

    def _pages(self, app: faust.App, stage: DetectStage, topics: Topics, outbox: Outbox) -> None:
        @app.page("/healthz")
        async def healthz(web, request):
            """Liveness: the process runs its event loop; ``ready``: joined and restored (both
            groups); ``partitions``: what this worker owns, of the events it detects on and of
            the alert groups it sends."""
            detect = sorted(tp.partition for tp in stage.assignment if tp.topic == topics.metrics)
            return web.json(
                {
                    "ok": True,
                    "ready": self.joined and stage.ready,
                    "partitions": {"detect": detect, "groups": sorted(outbox.mine)},
                }
            )

        @app.page("/readyz")
        async def readyz(web, request):
            why = self.not_ready()
            return web.json({"ready": not why, "reasons": why}, status=503 if why else 200)


def lag(app: faust.App, prefix: str) -> list[tuple[str, int, int]]:
    """(topic, partition, messages behind) for each assigned partition of our topics (not
    the tables' changelogs, read only while recovering), from Faust's monitor."""
    try:
        assigned = app.consumer.assignment()
    except Exception:  # noqa: BLE001 - not started yet
        return []
    read, ends = app.monitor.tp_read_offsets, app.monitor.tp_end_offsets
    out = []
    for tp in sorted(assigned):
        if not tp.topic.startswith(prefix):
            continue
        try:
            end = app.consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - no fetch yet for this partition
            end = ends.get(tp)
        if end is None:
            continue
        done = read[tp] + 1 if tp in read else (app.monitor.tp_committed_offsets.get(tp) or 0)
        out.append((tp.topic, tp.partition, max(0, end - done)))
    return out
