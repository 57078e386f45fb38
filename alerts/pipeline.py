"""Routed delivery: route -> group (inhibition at flush) -> one queue per receiver -> notifiers.

The routes come from an alerts config file (``APPWATCH_ALERTS_CONFIG``), or from
``fanout`` without one. Each receiver has its own queue and tasks, so a slow or dead
receiver never delays the others. Time comes from an injected clock.

State lives in two stores the caller owns (dicts in tests and the demo; in the worker
a Faust table and a dict fed by a compacted topic, see ``streams.app``):
- ``groups``: group key -> ``alerts.group.Group`` as a dict, with the notifications not
  yet sent. A worker flushes and resumes only the groups it ``owns`` (their partition);
- ``firing``: alert_id -> {"labels", "until"}: what may inhibit (every worker sees all).

Two ways in: ``accept(alert)`` routes and groups in one process; in the worker the
dispatch agent calls ``note`` and ``routes`` and sends each (route, alert) to the
partition of its group, where ``add`` puts it in the group.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence

from alerts import group as grouping
from alerts.config import AlertsConfig, Receiver
from alerts.dispatch import deliver
from alerts.group import Group, Notification, routing_labels
from alerts.metrics import DeliveryMetrics
from alerts.notify import Notifier
from alerts.route import Resolved, inhibited, match, node
from alerts.silence import Silence, silenced
from core.alert import Alert
from core.retry import RetryPolicy
from core.secrets import Registers, secret_value

log = logging.getLogger(__name__)
FLUSH_EVERY = 1.0  # seconds between looks for due groups, at the most


def build(
    receiver: Receiver, allow_hosts: Sequence[str], console=None, redactor: Registers | None = None
) -> list[Notifier]:
    """The notifiers of one receiver, secrets read from env or files (and registered with
    ``redactor``, which keeps them out of the logs)."""
    from alerts.notify.alertmanager import AlertmanagerNotifier
    from alerts.notify.console import ConsoleNotifier
    from alerts.notify.jsonl import JsonlNotifier
    from alerts.notify.pagerduty import PagerDutyNotifier
    from alerts.notify.slack import SlackNotifier
    from alerts.notify.webhook import WebhookNotifier

    out: list[Notifier] = []
    name = receiver.name
    guard = dict(allow_hosts=allow_hosts)  # every receiver URL: public addresses or allow_hosts only
    for i, c in enumerate(receiver.webhook_configs):
        signed = c.secret_env or c.secret_file
        what = f"{name} webhook secret"
        secret = secret_value(env=c.secret_env, file=c.secret_file, what=what, redactor=redactor) if signed else None
        out.append(
            WebhookNotifier(f"{name}/webhook/{i}", c.url, secret, headers=c.headers, template=c.template, **guard)
        )
    for i, c in enumerate(receiver.slack_configs):
        url = secret_value(env=c.url_env, file=c.url_file, what=f"{name} slack url", redactor=redactor)
        out.append(SlackNotifier(url, name=f"{name}/slack/{i}", title=c.title, **guard))
    for i, c in enumerate(receiver.alertmanager_configs):
        out.append(
            AlertmanagerNotifier(
                f"{name}/alertmanager/{i}",
                c.url,
                generator_url_base=c.generator_url_base,
                resend_interval=c.resend_interval,
                **guard,
            )
        )
    for i, c in enumerate(receiver.pagerduty_configs):
        key = secret_value(
            env=c.routing_key_env, file=c.routing_key_file, what=f"{name} routing key", redactor=redactor
        )
        out.append(PagerDutyNotifier(f"{name}/pagerduty/{i}", key, url=c.url, **guard))
    for i, _ in enumerate(receiver.console_configs):
        out.append(ConsoleNotifier(console, name=f"{name}/console/{i}"))
    for i, c in enumerate(receiver.jsonl_configs):
        out.append(JsonlNotifier(c.path, name=f"{name}/jsonl/{i}"))
    return out


def fanout(notifiers: Sequence[Notifier]) -> tuple[AlertsConfig, dict[str, list[Notifier]]]:
    """The routes without a config file: each notifier is a receiver of its own (its
    own queue), and every alert goes to all of them at once, one notification each."""
    names = [n.name for n in notifiers] or ["none"]
    config = AlertsConfig.model_validate(
        {
            "route": {
                "receiver": names[0],
                "group_by": ["alert_id"],
                "group_wait": "0s",
                "group_interval": "1s",
                "routes": [{"receiver": name, "continue": True} for name in names],
            },
            "receivers": [{"name": name} for name in names],
        }
    )
    return config, {n.name: [n] for n in notifiers}


RECENT = 3600.0  # seconds a resolved alert stays in the firing set (listed as recently resolved)


def firing_now(entry: dict, now: float) -> bool:
    """Whether a firing-set entry still fires at ``now``: not once resolved (``resolvedAt``),
    a one-off only until ``until``."""
    if entry.get("resolvedAt") is not None:
        return False
    return entry.get("until") is None or entry["until"] > now


def forget_resolved(firing: MutableMapping[str, dict], now: float) -> None:
    """Drop the firing set's resolved entries older than ``RECENT``: memory stays bounded."""
    for aid in [a for a, f in list(firing.items()) if (f.get("resolvedAt") or now) < now - RECENT]:
        firing.pop(aid, None)


def store_backoff(failures: int) -> float:
    """Seconds before flushing again after ``failures`` failed store writes in a row:
    0.25 s doubling up to 5 s, so a broker outage costs no busy loop."""
    return min(5.0, 0.25 * 2 ** max(0, failures - 1))


def resends(notifier: Notifier) -> bool:
    """A notifier that wants firing alerts pushed again every ``resend_interval`` (Alertmanager)."""
    return notifier.resend_interval is not None


class Pipeline:
    def __init__(
        self,
        config: AlertsConfig,
        receivers: dict[str, list[Notifier]],
        metrics: DeliveryMetrics,
        policy: RetryPolicy = RetryPolicy(),
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        groups: MutableMapping[str, dict] | None = None,
        firing: MutableMapping[str, dict] | None = None,
        owns: Callable[[str], bool] = lambda key: True,
        retention: float = 7 * 86400.0,
        silences: Mapping[str, Silence] | None = None,
    ) -> None:
        """``owns(group_key)``: whether this process flushes that group (its partition).
        ``retention``: how long a group remembers what it notified (replays dedup).
        ``silences``: id -> silence, as every worker reads them; a silence made after an
        alert was grouped mutes its next notifications, as Alertmanager's does."""
        self.config, self.receivers, self.metrics = config, receivers, metrics
        self.on_failed = None  # (notifier, alert, error) for the notifications DLQ
        self.disabled: set[str] = set()
        self.policy, self.clock, self.sleep = policy, clock, sleep
        self.groups = {} if groups is None else groups
        self.firing = {} if firing is None else firing
        self.owns = owns
        self.retention = retention
        self.silences = {} if silences is None else silences
        self.resolve_timeout = config.global_.resolve_timeout
        self.queues: dict[str, asyncio.Queue[Notification]] = {}
        self.in_flight: set[str] = set()  # notification ids queued or being sent here
        self._routes: dict[str, Resolved] = {}  # "receiver:path" -> route, as routing found them
        self._muted: set[str] = set()  # alert ids inhibited when last looked at
        self._store_failing = 0  # store writes failed in a row
        self._wake = asyncio.Event()

    # -- in: routing, the firing set, groups ------------------------------------

    def routes(self, alert: Alert) -> list[Resolved]:
        found = match(self.config.route, routing_labels(alert))
        for r in found:
            self._routes[f"{r.receiver}:{r.path}"] = r
        return found

    def firing_entry(self, alert: Alert) -> dict:
        """What the firing set holds for ``alert``: its routing labels, summary, start and
        the whole alert (what the alerts API lists). A one-off counts as firing for
        ``resolve_timeout``, as Alertmanager treats an alert without an end; a resolved
        alert stays, with ``resolvedAt`` (unix time), as recently resolved (``RECENT``)."""
        now, body = self.clock(), alert.model_dump(mode="json")
        entry = {"labels": routing_labels(alert), "summary": alert.summary, "alert": body}
        if alert.status == "resolved":
            before = self.firing.get(alert.alert_id) or {}
            starts = before.get("startsAt") or alert.window_start or alert.event_ts
            return entry | {"until": None, "startsAt": starts, "resolvedAt": now}
        until = None if alert.resolves else now + self.resolve_timeout
        return entry | {"until": until, "startsAt": alert.event_ts}

    def note(self, alert: Alert) -> None:
        """Keep the firing set (inhibition sources) up to date with ``alert``. In one
        process (``accept``) nothing lists the set, so a resolved alert just leaves it."""
        if alert.status == "resolved":
            self.firing.pop(alert.alert_id, None)
        else:
            self.firing[alert.alert_id] = self.firing_entry(alert)

    def add(self, alert: Alert, route: Resolved) -> bool:
        """Put ``alert`` in its group of ``route``; False if the group had it (a replay)."""
        key = grouping.group_key(route, alert)
        self._routes[f"{route.receiver}:{route.path}"] = route
        raw = self.groups.get(key)
        group, new = grouping.add(Group.from_dict(raw) if raw else None, key, alert, route, self.clock())
        if not new:
            self.metrics.deduplicated.inc()
            return False
        self.groups[key] = group.to_dict()
        self._wake.set()
        return True

    def accept(self, alert: Alert) -> int:
        """``note``, route and group in this process; how many groups took it (0: a replay)."""
        self.note(alert)
        return sum(self.add(alert, route) for route in self.routes(alert))

    # -- out: flush, refresh, deliver --------------------------------------------

    def muted(self, labels: dict[str, str]) -> bool:
        """Silenced now, or inhibited: a firing source alert matches an inhibit rule for
        these labels."""
        if self.silences and silenced(labels, self.silences, self.clock()) is not None:
            return True
        if not self.config.inhibit_rules:
            return False
        now, aid = self.clock(), labels.get("alert_id", "")
        sources = [f["labels"] for other, f in list(self.firing.items()) if other != aid and firing_now(f, now)]
        hit = inhibited(labels, sources, self.config.inhibit_rules)
        if hit and aid not in self._muted:
            self.metrics.inhibited.inc()  # once per alert, however many flushes keep it muted
        (self._muted.add if hit else self._muted.discard)(aid)
        return hit

    def _route_of(self, group: Group) -> Resolved:
        route = self._routes.get(f"{group.receiver}:{group.path}")
        if route is None:  # a group restored from the store: find its node in the tree
            route = node(self.config.route, group.path)
            self._routes[f"{group.receiver}:{group.path}"] = route
        return route

    def flush(self) -> list[Notification]:
        """Notifications of the due groups this process owns, queued for their receivers."""
        now, out = self.clock(), []
        for key, raw in list(self.groups.items()):
            if self._due(raw) > now or not self.owns(key):
                continue
            group = Group.from_dict(raw)
            after, ntf = group, None
            if group.next_flush <= now:
                after, ntf = grouping.flush(
                    group, self._route_of(group), now, self.muted, self.resolve_timeout, self.retention
                )
            refresh, every = None, self._resend(group.receiver)
            if after is not None and every is not None:
                refresh = grouping.refresh(after, now, every, self.muted)
            if after is None:
                self.groups.pop(key, None)
            else:
                self.groups[key] = after.to_dict()
            for n in (ntf, refresh):
                if n is not None:
                    out.append(n)
                    self._queue(n)
        self._expire(now)
        if self._muted:  # forget the muted alerts that left their groups
            held = {aid for raw in list(self.groups.values()) for aid in raw["alerts"]}
            self._muted &= held
        return out

    def _due(self, raw: dict) -> float:
        """When the group next needs a look: its flush, or its refresh if sooner."""
        every = self._resend(raw["receiver"])
        if every is None or raw["refreshed"] is None:
            return raw["next_flush"]
        return min(raw["next_flush"], raw["refreshed"] + every)

    def _resend(self, receiver: str) -> float | None:
        """How often the receiver's Alertmanagers want firing alerts again (None: it has none)."""
        return min(
            (n.resend_interval for n in self.receivers.get(receiver, []) if n.resend_interval is not None), default=None
        )

    def _expire(self, now: float) -> None:
        for aid in [a for a, f in list(self.firing.items()) if f["until"] is not None and f["until"] <= now]:
            self.firing.pop(aid, None)

    def _queue(self, n: Notification) -> None:
        if n.id in self.in_flight:
            return
        self.in_flight.add(n.id)
        self.queues.setdefault(n.receiver, asyncio.Queue()).put_nowait(n)

    def resume(self) -> int:
        """Queue again what the groups this process owns have not sent (after a restart
        or a rebalance): receivers get the same notification id, and dedup by it."""
        again = 0
        for key, raw in list(self.groups.items()):
            if not raw.get("pending") or not self.owns(key):
                continue
            for ntf in raw["pending"].values():
                n = Notification.from_dict(ntf)
                if n.id not in self.in_flight:
                    self._queue(n)
                    again += 1
        if again:
            log.warning("delivery: %d notifications queued again after a restart or rebalance", again)
        return again

    async def _deliver(self, receiver: str) -> None:
        queue = self.queues.setdefault(receiver, asyncio.Queue())
        while True:
            n = await queue.get()
            notifiers = [x for x in self.receivers.get(receiver, []) if not n.refresh or resends(x)]
            try:
                await asyncio.gather(
                    *(
                        deliver(x, n.alerts, self.policy, self.metrics, self.sleep, self.disabled, self.on_failed)
                        for x in notifiers
                    )
                )
                self._store(self._sent, n)
            finally:
                self.in_flight.discard(n.id)
                queue.task_done()

    def _store(self, step: Callable[..., None], *args) -> bool:
        """``step`` writes the groups store; when a write fails (the broker is gone and the
        store cannot reach its changelog), the groups stay as they were before it and a
        later round does it again: delivery goes on, at least once, instead of the task
        dying. Logged once per outage, not per attempt."""
        try:
            step(*args)
        except Exception:  # noqa: BLE001 - any store failure; the write is retried, not lost
            if not self._store_failing:
                log.warning("writing the alert groups failed; trying again until it works", exc_info=True)
            self._store_failing += 1
            return False
        if self._store_failing:
            log.warning("writing the alert groups works again after %d failed tries", self._store_failing)
            self._store_failing = 0
        return True

    def _sent(self, n: Notification) -> None:
        raw = self.groups.get(n.group_key)
        if raw is not None and n.id in raw.get("pending", {}):
            group = Group.from_dict(raw)
            grouping.sent(group, n.id)
            self.groups[n.group_key] = group.to_dict()

    async def run(self) -> None:
        """Flush due groups as they come due; deliver each receiver's queue in its own tasks."""
        limits = {r.name: r.max_concurrency for r in self.config.receivers}
        tasks = [
            asyncio.create_task(self._deliver(r)) for r in self.receivers for _ in range(limits.get(r, 1))
        ]  # the receiver's concurrency limit
        try:
            while True:
                ok = self._store(self.flush)
                self._wake.clear()
                wait = self._until_next() if ok else store_backoff(self._store_failing)
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    pass
        finally:
            for t in tasks:
                t.cancel()

    def _until_next(self) -> float:
        soonest = min((self._due(raw) for raw in list(self.groups.values())), default=None)
        return FLUSH_EVERY if soonest is None else max(0.0, min(FLUSH_EVERY, soonest - self.clock()))
