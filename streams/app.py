"""The Faust app factory. Agents are thin glue around ``Engine`` and ``Dispatcher``."""

from __future__ import annotations

import logging
import time
from types import SimpleNamespace
from typing import Sequence

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from alerts.dispatch import Dispatcher
from alerts.metrics import DeliveryMetrics
from alerts.model import Alert
from alerts.notify import Notifier
from streams import dlq, rules
from streams.engine import Engine
from streams.events import InvalidEvent, Topics, decode
from streams.metrics import StreamMetrics
from streams.settings import Settings

log = logging.getLogger(__name__)

# Tansu: short group timeouts help joins; batch size 1 keeps table recovery
# correct (its end offsets are wrong otherwise; see shared/design.md).
TANSU = dict(broker_session_timeout=2.0, broker_heartbeat_interval=0.5, producer_max_batch_size=1)
# Tansu answers a fetch only when fetch_max_wait_ms ends, even with data
# waiting; Faust hard-codes 1500 ms, which would be the latency of every hop.
TANSU_FETCH_MAX_WAIT_MS = 20


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = TANSU_FETCH_MAX_WAIT_MS  # read in start()
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self):
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _TansuTransport(faust_aiokafka.Transport):
    Consumer = _Consumer


class _TansuApp(faust.App):
    def _new_transport(self):
        return _TansuTransport(self.conf.broker_consumer, self)


def create_app(
    settings: Settings,
    *,
    notifiers: Sequence[Notifier] = (),
    registry: CollectorRegistry | None = None,
) -> faust.App:
    registry = registry or CollectorRegistry()
    topics = Topics(settings.topic_prefix)
    tansu = settings.broker_flavor == "tansu"
    app = (_TansuApp if tansu else faust.App)(
        settings.group,
        broker=settings.broker,
        store="memory://",
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        **(TANSU if tansu else {}),
    )
    metrics = StreamMetrics(registry)
    engine = Engine(rules.load(settings.rules), on_too_late=lambda ev: metrics.too_late.inc())
    dispatcher = Dispatcher(notifiers, DeliveryMetrics(registry))
    state = SimpleNamespace(ready=False, registry=registry, topics=topics)
    app.appwatch = state

    windows = app.Table("windows", partitions=settings.partitions)
    delivered = app.Table("delivered", partitions=settings.partitions)
    events_in = app.topic(*topics.events, key_serializer="raw", value_serializer="raw")
    dlq_out = app.topic(topics.dlq, key_serializer="raw", value_serializer="raw")
    alerts_topic = app.topic(topics.alerts, key_serializer="raw", value_serializer="raw")

    @app.agent(events_in, name="detect")
    async def detect(stream):
        async for event in stream.events():
            msg = event.message
            try:
                ev = decode(event.value)
            except InvalidEvent as exc:
                metrics.invalid.labels(exc.reason).inc()
                log.warning("invalid event %s/%d@%d: %s", msg.topic, msg.partition, msg.offset, exc)
                await dlq_out.send(key=event.key, value=dlq.record(
                    event.value, exc.reason, str(exc), msg.topic, msg.partition, msg.offset))
                continue
            metrics.observe(ev)
            for alert in engine.process(ev, windows, observed_at=msg.timestamp):
                metrics.alerts.labels(alert.rule, alert.severity).inc()
                metrics.event_to_alert.observe(max(0.0, time.time() - msg.timestamp))
                await alerts_topic.send(key=alert.alert_id.encode(), value=alert.to_json())

    @app.agent(alerts_topic, name="dispatch")
    async def dispatch(stream):
        async for raw in stream:
            await dispatcher.dispatch(Alert.model_validate_json(raw), delivered)

    @app.page("/metrics")
    async def metrics_view(web, request):
        return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/healthz")
    async def healthz(web, request):
        return web.json({"ok": True, "ready": state.ready})

    @app.on_rebalance_complete.connect
    async def _ready(sender, **kwargs):
        state.ready = True

    return app
