"""Routed delivery: route -> inhibit -> group -> one queue per receiver -> notifiers.

The routes come from an alerts config file (``APPWATCH_ALERTS_CONFIG``), or from
``fanout`` without one. Each receiver has its own queue and task, so a slow or
dead receiver never delays the others. Time comes from an injected clock; ``run()`` flushes due groups.

The worker keeps an outbox (a Faust table) of accepted alerts and clears an
entry through ``on_sent`` once its notification went out; after a crash the
restarted worker accepts the outbox again, and receivers dedup by webhook-id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable, Sequence

from alerts.config import AlertsConfig, Receiver
from alerts.dispatch import RetryPolicy, deliver
from alerts.group import Grouper, Notification, routing_labels
from alerts.metrics import DeliveryMetrics
from alerts.model import Alert
from alerts.notify import Notifier, Result
from alerts.redact import secret_from
from alerts.route import inhibited, match

log = logging.getLogger(__name__)


def build(receiver: Receiver, allow_hosts: Sequence[str], console=None) -> list[Notifier]:
    """The notifiers of one receiver, secrets read from env or files."""
    from alerts.notify.alertmanager import AlertmanagerNotifier
    from alerts.notify.console import ConsoleNotifier
    from alerts.notify.jsonl import JsonlNotifier
    from alerts.notify.pagerduty import PagerDutyNotifier
    from alerts.notify.slack import SlackNotifier
    from alerts.notify.webhook import WebhookNotifier
    from alerts.ssrf import Guard, GuardedTransport

    guard = Guard(frozenset(allow_hosts))
    guarded = GuardedTransport(guard)  # every receiver URL: public addresses or allow_hosts only
    out: list[Notifier] = []
    name = receiver.name
    for i, c in enumerate(receiver.webhook_configs):
        secret = secret_from(env=c.secret_env, file=c.secret_file) if (c.secret_env or c.secret_file) else None
        out.append(WebhookNotifier(f"{name}/webhook/{i}", c.url, secret, headers=c.headers,
                                   allow_hosts=allow_hosts, template=c.template))
    for i, c in enumerate(receiver.slack_configs):
        url = secret_from(env=c.url_env, file=c.url_file, what=f"{name} slack url")
        guard.check_url(url)
        out.append(SlackNotifier(url, name=f"{name}/slack/{i}", title=c.title, transport=guarded))
    for i, c in enumerate(receiver.alertmanager_configs):
        guard.check_url(c.url)
        out.append(AlertmanagerNotifier(f"{name}/alertmanager/{i}", c.url,
                                        generator_url_base=c.generator_url_base, transport=guarded))
    for i, c in enumerate(receiver.pagerduty_configs):
        key = secret_from(env=c.routing_key_env, file=c.routing_key_file, what=f"{name} routing key")
        guard.check_url(c.url)
        out.append(PagerDutyNotifier(f"{name}/pagerduty/{i}", key, url=c.url, transport=guarded))
    for i, _ in enumerate(receiver.console_configs):
        out.append(ConsoleNotifier(console, name=f"{name}/console/{i}"))
    for i, c in enumerate(receiver.jsonl_configs):
        out.append(JsonlNotifier(c.path, name=f"{name}/jsonl/{i}"))
    return out


def fanout(notifiers: Sequence[Notifier]) -> tuple[AlertsConfig, dict[str, list[Notifier]]]:
    """The routes without a config file: each notifier is a receiver of its own (its
    own queue), and every alert goes to all of them at once, one notification each."""
    names = [n.name for n in notifiers] or ["none"]
    config = AlertsConfig.model_validate({
        "route": {"receiver": names[0], "group_by": ["alert_id"], "group_wait": "0s", "group_interval": "1s",
                  "routes": [{"receiver": name, "continue": True} for name in names]},
        "receivers": [{"name": name} for name in names]})
    return config, {n.name: [n] for n in notifiers}


class _Grouped:
    """Adapts a notifier to a notification: one call with the group, or one per alert."""

    def __init__(self, notifier: Notifier, notification: Notification) -> None:
        self.name = notifier.name
        self.inner = notifier
        self._n, self._ntf = notifier, notification

    async def notify(self, _alert: Alert) -> Result:
        group = getattr(self._n, "notify_group", None)
        if group is not None:
            return await group(list(self._ntf.alerts))
        for alert in self._ntf.alerts:
            retry, err = await self._n.notify(alert)
            if err is not None:
                return retry, err
        return False, None


class Pipeline:
    def __init__(self, config: AlertsConfig, receivers: dict[str, list[Notifier]],
                 metrics: DeliveryMetrics, policy: RetryPolicy = RetryPolicy(),
                 clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 on_sent: Callable[[Notification], Awaitable[None]] | None = None) -> None:
        """``on_sent(notification)`` runs once a notification's deliveries have ended."""
        self.config, self.receivers, self.metrics = config, receivers, metrics
        self.on_sent = on_sent
        self.on_failed = None  # (notifier, alert, error) for the notifications DLQ
        self.disabled: set[str] = set()
        self.policy, self.clock, self.sleep = policy, clock, sleep
        self.grouper = Grouper()
        self.firing: dict[str, dict[str, str]] = {}  # alert_id -> routing labels, for inhibition
        self.queues: dict[str, asyncio.Queue[Notification]] = {}
        self.pending: dict[str, int] = {}  # "alert_id:status" -> notifications still to send
        self._wake = asyncio.Event()

    def accept(self, alert: Alert) -> int:
        """Route an alert into its groups; return how many routes took it (0: inhibited)."""
        taken = self._route(alert)
        if taken:
            key = alert.delivery_key
            self.pending[key] = self.pending.get(key, 0) + taken
        return taken

    def _route(self, alert: Alert) -> int:
        labels = routing_labels(alert)
        if alert.status == "firing":
            self.firing[alert.alert_id] = labels
        else:
            self.firing.pop(alert.alert_id, None)
        others = [lab for aid, lab in self.firing.items() if aid != alert.alert_id]
        if alert.status == "firing" and inhibited(labels, others, self.config.inhibit_rules):
            self.metrics.inhibited.inc()
            return 0
        routes = match(self.config.route, labels)
        now = self.clock()
        for route in routes:
            self.grouper.add(alert, route, now)
        self._wake.set()
        return len(routes)

    def flush(self) -> list[Notification]:
        due = self.grouper.due(self.clock())
        for n in due:
            self.queues.setdefault(n.receiver, asyncio.Queue()).put_nowait(n)
        return due

    async def _deliver(self, receiver: str) -> None:
        queue = self.queues.setdefault(receiver, asyncio.Queue())
        while True:
            n = await queue.get()
            await asyncio.gather(*(deliver(_Grouped(x, n), n.alerts[0], self.policy, self.metrics, self.sleep,
                                           self.disabled, self.on_failed)
                                   for x in self.receivers.get(receiver, [])))
            for a in n.alerts:
                key = a.delivery_key
                left = self.pending.get(key, 1) - 1
                if left > 0:
                    self.pending[key] = left
                else:
                    self.pending.pop(key, None)
            if self.on_sent is not None:
                await self.on_sent(n)
            queue.task_done()

    async def run(self) -> None:
        """Flush due groups as they come due; deliver each receiver's queue in its own task."""
        limits = {r.name: r.max_concurrency for r in self.config.receivers}
        tasks = [asyncio.create_task(self._deliver(r)) for r in self.receivers
                 for _ in range(limits.get(r, 1))]  # the receiver's concurrency limit
        try:
            while True:
                self.flush()
                wake = self.grouper.next_wakeup()
                timeout = 1.0 if wake is None else max(0.0, min(1.0, wake - self.clock()))
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
        finally:
            for t in tasks:
                t.cancel()
