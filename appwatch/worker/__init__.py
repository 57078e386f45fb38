"""The worker: the detect stage and the delivery stage, composed on one Faust app.

    events.* (N partitions) --detect stage--> series rules (streams/stage.py: batches,
        |                                      its own group and changelog, not a Faust agent)
        |  ranks, news, heartbeats, series alerts
        v
    internal.control (1 partition) --control--> ranks, news, deadman, correlation
        v                                        (table ``control``)          [detect.py]
    alerts (N partitions) --dispatch--> silence (silences.py), the firing set
        |                               (``internal.firing``, read whole by every worker:
        v  (group key, alert) per route  inhibition), route              [dispatch.py]
    internal.groups (N partitions, keyed by group key) --group--> the group (table
        ``groups``); the owner of the group's partition flushes it (inhibition at flush)
        -> one queue per receiver -> notifiers                          [outbox.py]

Beside them: rules reload (reload.py), the HTTP API (api.py; Alertmanager's v2 routes for
amtool in amapi.py; the rules' status and check in rules_api.py), the probes (probes.py).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from types import SimpleNamespace

import faust
from prometheus_client import CollectorRegistry

from alerts.metrics import DeliveryMetrics
from alerts.notify import Notifier
from alerts.pipeline import Pipeline, fanout
from core.auth import Tokens
from core.events import Topics
from streams import rewind
from streams.metrics import StreamMetrics, WorkerCollector
from streams.rules import RuleSet
from streams.settings import Settings

from .alerts_api import AlertsApi
from .amapi import AmApi
from .api import Api
from .backtests import Backtests
from .base import new_app
from .connectors_api import ConnectorStatus
from .detect import Detect
from .dispatch import Dispatch, Firing
from .market_api import MarketApi
from .openapi import OpenApi
from .outbox import Outbox
from .probes import Probes, lag
from .reload import RulesReload
from .rules_api import RulesApi
from .silences import Silences


def serve(app: faust.App, settings: Settings, registry, state: SimpleNamespace, pipeline, companies) -> None:
    """The HTTP side: the API parts, and the console's pages, which read through them.
    ``state``: the worker's ``detect``, ``silences``, ``firing`` and ``checks``."""
    from ..console import Console, Sessions  # the console reads the worker's parts: import it last

    tokens, topics = Tokens.from_settings(settings), Topics(settings.topic_prefix)
    detect, silences, firing = state.detect, state.silences, state.firing
    worker = f"{socket.gethostname()}:{settings.web_port}"
    parts = SimpleNamespace(
        api=Api(tokens, silences),
        amapi=AmApi(tokens, silences, firing, pipeline.config, started=time.time()),
        rules=RulesApi(tokens, detect, settings.rules, firing, detect.metrics, worker),
        connectors=ConnectorStatus(tokens),
        backtests=Backtests(
            tokens, lambda: RuleSet(rules=detect.engine.rules, calendar=list(detect.engine.calendar.extra)), companies
        ),
        detect=detect,
        silences=silences,
        firing=firing,
        worker=worker,
        pipeline=pipeline,
    )
    parts.alerts, parts.market = AlertsApi(tokens, parts), MarketApi(tokens, parts)
    parts.rules.backtests = parts.backtests  # an edited rules file's backtest runs as a job
    parts.api.install(app, registry)
    parts.alerts.install(app)
    parts.market.install(app)
    parts.amapi.install(app)
    parts.rules.install(app)
    parts.connectors.install(app, settings, topics, state.checks)
    parts.backtests.install(app)
    OpenApi().install(app)
    Console(Sessions.from_settings(settings), parts).install(app)


def create_app(
    settings: Settings,
    *,
    notifiers: Sequence[Notifier] = (),
    registry: CollectorRegistry | None = None,
    companies: dict[str, str] | None = None,
    pipeline_factory=None,
) -> faust.App:
    """``companies``: app_id -> company (the catalog), for correlation. ``pipeline_factory(
    metrics, **stores) -> Pipeline``: routed, grouped delivery (an alerts config); without
    it every alert goes to each of ``notifiers``, each through its own queue."""
    registry = registry or CollectorRegistry()
    topics, checks, app = Topics(settings.topic_prefix), rewind.Checks(), new_app(settings)
    metrics, delivery = (
        StreamMetrics(registry, market_apps=frozenset(companies or ()) or None),
        DeliveryMetrics(registry),
    )
    probes = Probes(settings.bootstrap, checks)
    detect = Detect(settings, topics, metrics, checks, companies)
    outbox, firing, silences = Outbox(settings.partitions), Firing(), Silences()
    stores = dict(
        groups=app.Table("groups", partitions=settings.partitions, use_partitioner=True),
        firing=firing,
        owns=outbox.owns,
        retention=settings.delivered_retention,
        silences=silences.by_id,
    )
    pipeline = (
        pipeline_factory(delivery, **stores) if pipeline_factory else Pipeline(*fanout(notifiers), delivery, **stores)
    )
    delivery.silences.set_function(lambda: len(silences.active()))
    registry.register(
        WorkerCollector(lambda: [*detect.stage.lag(), *lag(app, topics.prefix)], lambda: detect.engine.evaluations)
    )

    detect.install(app)
    RulesReload(detect.engine, settings.rules, registry).install(app)
    silences.install(app, settings, topics, checks)
    Dispatch(pipeline, silences, delivery).install(app, settings, topics, checks, firing)
    outbox.install(app, topics, pipeline, ready=lambda: probes.joined)
    serve(
        app,
        settings,
        registry,
        SimpleNamespace(detect=detect, silences=silences, firing=firing, checks=checks),
        pipeline,
        companies,
    )
    probes.install(app, detect.stage, topics, metrics, outbox, on_joined=pipeline.resume)
    app.appwatch = SimpleNamespace(
        not_ready=probes.not_ready,
        registry=registry,
        topics=topics,
        engine=detect.engine,
        stage=detect.stage,
        silences=silences.by_id,
    )
    return app
