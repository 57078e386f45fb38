"""The outbox: ``internal.groups`` keyed by group key. The owner of a group's partition
keeps the group in the ``groups`` table (its alerts, what it notified, what it has not
sent yet) and flushes it through the pipeline; what will never be delivered goes to the
notifications DLQ."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import faust
import orjson

from alerts.notify import Notifier
from alerts.pipeline import Pipeline
from alerts.route import node
from core.alert import Alert
from core.events import Topics
from core.retry import DeliveryError

from .base import RAW, partition_of


def failed_record(notifier: Notifier, alert: Alert, error: DeliveryError, now: float) -> bytes:
    """The notifications DLQ record of a notification that will not be delivered."""
    return orjson.dumps(
        {
            "receiver": notifier.name,
            "status": error.status,
            "error": str(error),
            "alert": alert.model_dump(mode="json"),
            "failed_at": now,
        }
    )


class Outbox:
    def __init__(self, partitions: int) -> None:
        self.partitions = partitions
        self.mine: set[int] = set()  # partitions of internal.groups this worker owns

    def owns(self, key: str) -> bool:
        return partition_of(key, self.partitions) in self.mine

    def assigned(self, partitions) -> None:
        self.mine.clear()
        self.mine.update(partitions)

    def install(self, app: faust.App, topics: Topics, pipeline: Pipeline, ready: Callable[[], bool]) -> None:
        groups = app.topic(topics.groups, key_serializer="json", value_serializer="raw")
        dlq = app.topic(topics.notifications_dlq, **RAW)

        async def on_failed(notifier: Notifier, alert: Alert, error: DeliveryError) -> None:
            await dlq.send(key=alert.alert_id.encode(), value=failed_record(notifier, alert, error, time.time()))

        pipeline.on_failed = on_failed

        @app.agent(groups, name="group")
        async def group_agent(stream):
            """The group's owner puts the alert in it (a replay changes nothing)."""
            async for raw in stream:
                item = orjson.loads(raw)
                pipeline.add(Alert.model_validate(item["alert"]), node(pipeline.config.route, item["path"]))

        @app.task
        async def deliver_groups():
            while not ready():
                await asyncio.sleep(0.05)
            await pipeline.run()
