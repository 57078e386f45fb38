"""The Faust app factory. Agents are thin glue around ``Engine`` and ``Pipeline``.

    events.* (N partitions) --detect stage--> series rules (streams/stage.py: batches,
        |                                      its own group and changelog, not a Faust agent)
        |  ranks, news, heartbeats, series alerts
        v
    internal.control (1 partition) --control--> ranks, news, deadman, correlation
        v                                        (table ``control``)
    alerts (N partitions) --dispatch--> silence, the firing set (``internal.firing``, every
        |                               worker reads all of it: inhibition), route
        v  (group key, alert) per route
    internal.groups (N partitions, keyed by group key) --group--> the group (table ``groups``:
        its alerts, what it notified, what it has not sent yet); the owner of the group's
        partition flushes it (inhibition at flush) -> one queue per receiver -> notifiers
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from types import SimpleNamespace
from typing import Sequence

import faust
import orjson
from aiokafka import AIOKafkaConsumer
from faust.serializers import codecs as faust_codecs
from kafka.partitioner.default import murmur2
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    generate_latest,
)

from alerts.group import group_key, routing_labels
from alerts.metrics import DeliveryMetrics
from core.alert import Alert
from alerts.notify import Notifier
from alerts.pipeline import Pipeline, fanout
from alerts.route import node
from alerts.silence import Silence, silenced
from core.yamlfile import ConfigError
from streams import faustapp, rewind, rules, tansu
from core.auth import Tokens
from streams.engine import Engine
from core.events import Topics, validate
from streams.metrics import StreamMetrics, WorkerCollector
from streams.settings import Settings
from streams.stage import DetectStage, Stage

log = logging.getLogger(__name__)

SWEEP_EVERY = 5.0  # seconds between deadman sweeps
RELOAD_EVERY = 1.0  # seconds between rules-file checks
BROKER_PROBE_EVERY = 2.0  # seconds between broker reachability checks (readiness)


class RulesWatcher:
    """Reload the rules file when it changes; a bad file keeps the old rules running."""

    def __init__(self, engine: Engine, path, reloads: Counter) -> None:
        self.engine, self.path, self.reloads = engine, path, reloads
        self.stamp = self._stamp()

    def _stamp(self):
        try:
            st = os.stat(self.path)
            return st.st_mtime_ns, st.st_size
        except OSError:
            return None

    def check(self) -> None:
        stamp = self._stamp()
        if stamp == self.stamp:
            return
        self.stamp = stamp
        try:
            ruleset = rules.load(self.path)
        except ConfigError as exc:
            self.reloads.labels("error").inc()
            log.error("rules reload rejected, the old rules keep running:\n%s", exc)
            return
        self.engine.rules = ruleset.rules
        self.reloads.labels("ok").inc()
        log.warning("rules reloaded from %s: %d rules", self.path, len(ruleset.rules))


def create_app(
    settings: Settings,
    *,
    notifiers: Sequence[Notifier] = (),
    registry: CollectorRegistry | None = None,
    companies: dict[str, str] | None = None,
    pipeline_factory=None,
) -> faust.App:
    """``companies`` maps app_id -> company (the app catalog), for correlation.

    ``pipeline_factory(metrics) -> alerts.pipeline.Pipeline``: routed, grouped delivery
    (an alerts config); without it every alert goes to each of ``notifiers``, each
    through its own queue.
    """
    registry = registry or CollectorRegistry()
    topics = Topics(settings.topic_prefix)
    flavor_tansu = settings.broker_flavor == "tansu"
    app = (tansu.TansuApp if flavor_tansu else faustapp.App)(
        settings.group,
        broker=settings.broker,
        store="memory://",
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        # Faust's own pages (/router, /table/<name>: the tables' contents, /stats) are off:
        # the worker serves only its API (core.auth) and /metrics, /healthz, /readyz
        web_router_enabled=False, web_tables_enabled=False, web_stats_enabled=False,
        broker_credentials=settings.faust_credentials(),
        **(tansu.SETTINGS if flavor_tansu else {}),
    )
    metrics = StreamMetrics(registry, market_apps=frozenset(companies) if companies else None)
    reloads = Counter("appwatch_rules_reload_total", "Rules file reloads by outcome", ["outcome"],
                      registry=registry)
    engine = Engine(rules.load(settings.rules), companies, on_too_late=lambda ev: metrics.too_late.inc(),
                    on_news=metrics.observe_news, on_ahead=lambda ev: metrics.ahead.inc(),
                    on_duplicate=lambda ev: metrics.duplicates.inc())
    watcher = RulesWatcher(engine, settings.rules, reloads) if settings.rules else None
    delivery_metrics = DeliveryMetrics(registry)
    # keys and values JSON (Faust's default), as the records of internal.groups: a group's
    # changelog partition is its topic partition
    groups_table = app.Table("groups", partitions=settings.partitions, use_partitioner=True)
    firing: dict[str, dict] = {}  # fed by follow_firing: every worker sees every firing alert
    group_partitions: set[int] = set()  # partitions of internal.groups this worker owns

    def owns(key: str) -> bool:
        return _partition_of(key, settings.partitions) in group_partitions

    stores = dict(groups=groups_table, firing=firing, owns=owns, retention=settings.delivered_retention)
    pipeline = (pipeline_factory(delivery_metrics, **stores) if pipeline_factory
                else Pipeline(*fanout(notifiers), delivery_metrics, **stores))
    checks = rewind.Checks()  # every consumer's positions against its logs' ends
    checks.add("streams")
    stage = DetectStage(Stage(engine, topics, metrics), settings, metrics, checks)
    app.service(stage)
    state = SimpleNamespace(ready=False, registry=registry, topics=topics, engine=engine, stage=stage,
                            bootstrap=settings.bootstrap, broker_ok=True, rebalance_started=time.monotonic())
    app.appwatch = state

    def not_ready() -> list[str]:
        """Why /readyz says no: empty when ready."""
        return [why for why, bad in (("not joined or tables recovering", not state.ready),
                                     ("detect stage joining or restoring", not stage.ready),
                                     ("rebalancing", app.rebalancing),
                                     ("broker unreachable", not state.broker_ok),
                                     ("positions not yet compared with the logs", bool(checks.pending())))
                if bad]

    state.not_ready = not_ready
    registry.register(WorkerCollector(lambda: [*stage.lag(), *_lag(app, topics.prefix)],
                                      lambda: engine.evaluations))
    metrics.ready.set_function(lambda: 0 if not_ready() else 1)

    control_state = app.Table("control", partitions=1)
    raw = dict(key_serializer="raw", value_serializer="raw")
    control = app.topic(topics.control, partitions=1, **raw)
    alerts_topic = app.topic(topics.alerts, **raw)
    groups_topic = app.topic(topics.groups, key_serializer="json", value_serializer="raw")
    firing_topic = app.topic(topics.firing, partitions=1, **raw)

    notifications_dlq = app.topic(topics.notifications_dlq, **raw)

    async def on_failed(notifier, alert: Alert, error: Exception) -> None:
        await notifications_dlq.send(key=alert.alert_id.encode(), value=orjson.dumps({
            "receiver": notifier.name, "status": getattr(error, "status", None), "error": str(error),
            "alert": alert.model_dump(mode="json"), "failed_at": time.time()}))

    pipeline.on_failed = on_failed

    async def emit(alert: Alert) -> None:
        metrics.alerts.labels(alert.rule, alert.severity).inc()
        if alert.observed_at:
            metrics.event_to_alert.observe(max(0.0, time.time() - alert.observed_at))
        await alerts_topic.send(key=alert.alert_id.encode(), value=alert.to_json())

    @app.agent(control, name="control")
    async def control_agent(stream):
        async for raw_msg in stream:
            item = orjson.loads(raw_msg)
            if "alert" in item:
                out = [Alert.model_validate(item["alert"])]
            elif "event" in item:
                ev = validate(item["event"])
                at = item.get("observed_at")
                out = (engine.rank(ev, control_state, at) if ev.type == "app.rank"
                       else engine.news(ev, control_state, at))
            elif "seen" in item:
                seen = SimpleNamespace(source=item["seen"], type=item["type"])
                out = engine.seen(seen, item["at"], control_state)
            else:
                out = engine.sweep(item["tick"], control_state)
            for alert in out:
                await emit(engine.correlate(alert, control_state))

    silences: dict[str, Silence] = {}
    state.silences = silences
    delivery_metrics.silences.set_function(lambda: sum(x.active(time.time()) for x in silences.values()))
    silences_topic = app.topic(topics.silences, partitions=1, **raw)

    @app.task
    async def follow_silences():
        """Every worker reads the whole compacted silences topic, outside the group."""

        def apply(key: bytes, value: bytes | None, offset: int) -> None:
            try:
                s = Silence.model_validate_json(value)
            except ValueError as exc:
                log.warning("bad silence record at offset %d: %s", offset, exc)
                return
            silences[s.id] = s

        await _follow(settings, topics.silences, apply, checks)

    @app.task
    async def follow_firing():
        """Every worker reads the whole compacted firing topic: what may inhibit what."""

        def apply(key: bytes, value: bytes | None, offset: int) -> None:
            if value is None:
                firing.pop(key.decode(), None)
            else:
                firing[key.decode()] = orjson.loads(value)

        await _follow(settings, topics.firing, apply, checks)

    @app.agent(alerts_topic, name="dispatch")
    async def dispatch(stream):
        """Silence, note what fires, then to the partition of each group the alert goes to."""
        async for raw_msg in stream:
            alert = Alert.model_validate_json(raw_msg)
            muted = silenced(routing_labels(alert), silences, time.time())
            if muted is not None:
                delivery_metrics.silenced.inc()
                log.info("alert %s silenced by %s", alert.alert_id, muted.id)
                continue
            entry = pipeline.firing_entry(alert)
            await firing_topic.send(key=alert.alert_id.encode(), value=orjson.dumps(entry) if entry else None)
            for route in pipeline.routes(alert):
                await groups_topic.send(key=group_key(route, alert), value=orjson.dumps(
                    {"path": route.path, "alert": alert.model_dump(mode="json")}))

    @app.agent(groups_topic, name="group")
    async def group_agent(stream):
        """The group's owner puts the alert in it (a replay changes nothing)."""
        async for raw_msg in stream:
            item = orjson.loads(raw_msg)
            pipeline.add(Alert.model_validate(item["alert"]), node(pipeline.config.route, item["path"]))

    @app.task
    async def deliver_groups():
        while not state.ready:
            await asyncio.sleep(0.05)
        await pipeline.run()

    @app.timer(SWEEP_EVERY, on_leader=True)
    async def tick():
        await control.send(key=b"c", value=orjson.dumps({"tick": time.time()}))

    if watcher:
        @app.timer(RELOAD_EVERY)
        async def reload_rules():
            watcher.check()

    @app.page("/metrics")
    async def metrics_view(web, request):
        return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    tokens = Tokens.from_settings(settings)

    def denied(view: faust.web.View, request, need: str):
        """The 401/403 answer if the request's token lacks ``need`` (core.auth), else None."""
        why = tokens.check(request.headers.get("Authorization"), need)
        if why is None:
            return None
        return view.json({"error": why.message}, status=why.status, headers=why.headers)

    @app.page("/api/silences")
    class SilencesView(faust.web.View):
        async def get(self, request):
            if (no := denied(self, request, "read")) is not None:
                return no
            now = time.time()
            return self.json([s.model_dump() for s in silences.values() if s.ends_at > now])

        async def post(self, request):
            if (no := denied(self, request, "write")) is not None:
                return no
            try:
                s = Silence.model_validate(await request.json())
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            await silences_topic.send(key=s.id.encode(), value=s.to_json())
            return self.json(s.model_dump(), status=201)

    @app.page("/api/silences/{silence_id}/expire")
    class ExpireView(faust.web.View):
        async def post(self, request, silence_id):
            if (no := denied(self, request, "write")) is not None:
                return no
            s = silences.get(silence_id)
            if s is None:
                return self.json({"error": f"no silence {silence_id}"}, status=404)
            ended = s.model_copy(update={"ends_at": min(s.ends_at, time.time())})
            await silences_topic.send(key=s.id.encode(), value=ended.to_json())
            return self.json(ended.model_dump())

    @app.page("/healthz")
    async def healthz(web, request):
        """Liveness: the process runs its event loop; ``ready``: joined and restored (both
        groups); ``partitions``: what this worker owns, of the events it detects on and of the
        alert groups it sends."""
        detect = sorted(tp.partition for tp in stage.assignment if tp.topic == topics.metrics)
        return web.json({"ok": True, "ready": state.ready and stage.ready,
                         "partitions": {"detect": detect, "groups": sorted(group_partitions)}})

    @app.page("/readyz")
    async def readyz(web, request):
        """Readiness: joined the group, tables recovered, broker reachable."""
        why = not_ready()
        return web.json({"ready": not why, "reasons": why}, status=503 if why else 200)

    async def check_streams():
        return await rewind.rewind_faust(app.consumer, app.tables.changelog_topics)

    async def check_after_rebalance():
        while app.rebalancing:  # Faust seeks to the committed offsets last
            await asyncio.sleep(0.05)
        await checks.run("streams", check_streams)

    @app.timer(BROKER_PROBE_EVERY)
    async def probe_broker():
        ok = await _reachable(settings.bootstrap)
        if ok and not state.broker_ok:
            checks.broker_back()  # it may have come back without its data
        state.broker_ok = ok
        if ok and state.ready and not app.rebalancing:
            await checks.run("streams", check_streams)

    @app.on_partitions_revoked.connect
    async def _rebalancing(sender, revoked, **kwargs):
        state.rebalance_started = time.monotonic()
        checks.moved("streams")

    @app.on_rebalance_complete.connect
    async def _ready(sender, **kwargs):
        metrics.rebalances.inc()
        metrics.recovery.set(time.monotonic() - state.rebalance_started)
        group_partitions.clear()
        group_partitions.update(tp.partition for tp in app.assignor.assigned_actives()
                                if tp.topic == topics.groups)
        asyncio.ensure_future(check_after_rebalance())
        state.ready = True
        pipeline.resume()  # the groups of the partitions it took: what they had not sent yet

    return app


def _partition_of(key: str, partitions: int) -> int:
    """The partition of a key the way the producer places it: murmur2 of its bytes as the
    topic and the table serialise it (JSON)."""
    return (murmur2(faust_codecs.dumps("json", key)) & 0x7FFFFFFF) % partitions


async def _follow(settings: Settings, topic: str, apply, checks: rewind.Checks) -> None:
    """Read the whole of a compacted topic, outside any group, for good: ``apply(key,
    value, offset)`` for each record (value None: deleted)."""
    checks.add(topic)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.bootstrap, group_id=None,
                                auto_offset_reset="earliest", fetch_max_wait_ms=50, **settings.aiokafka_config())
    await consumer.start()
    try:
        while True:
            await checks.run(topic, lambda: rewind.rewind(consumer, tansu.ends_corrector(settings)))
            batch = await consumer.getmany(timeout_ms=500)
            for msg in (m for records in batch.values() for m in records):
                apply(msg.key, msg.value, msg.offset)
    finally:
        await consumer.stop()


def _lag(app: faust.App, prefix: str):
    """(topic, partition, messages behind) for each assigned partition of our topics
    (not the table changelogs, which are read only while recovering)."""
    try:
        consumer = app.consumer
        assigned = consumer.assignment()
    except Exception:  # noqa: BLE001 - not started yet
        return []
    out = []
    for tp in sorted(assigned):
        if not tp.topic.startswith(prefix):
            continue
        try:
            end = consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - no fetch yet for this partition
            continue
        if end is None:
            continue
        read = consumer._read_offset.get(tp)  # the last offset this worker read
        done = read + 1 if read is not None else (consumer._committed_offset.get(tp) or 0)
        out.append((tp.topic, tp.partition, max(0, end - done)))
    return out


async def _reachable(bootstrap: str, timeout: float = 1.0) -> bool:
    """True when any bootstrap broker accepts a TCP connection."""
    for hostport in bootstrap.split(","):
        host, _, port = hostport.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
        except (OSError, asyncio.TimeoutError):
            continue
        writer.close()
        return True
    return False
