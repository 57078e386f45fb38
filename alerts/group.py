"""Grouping with Alertmanager's timing, as pure functions over a JSON-able state.

A group's state lives in a store the caller owns: a dict in tests and the demo, a Faust
table in the worker (keyed by the group key, on the partition the key hashes to), so
it survives restarts and exactly one worker flushes it. Time is passed in.

- A group's first notification goes out ``group_wait`` after its first alert.
- Then the group is looked at every ``group_interval``: it notifies when something
  changed (a new firing alert, or one resolved since it was notified), else again
  after ``repeat_interval`` while anything fires.
- An alert muted by an inhibition is left out while its source fires, and goes out at
  the first flush after the source ends (if it still fires). A resolved alert is
  never muted: the resolve of what was notified as firing always goes out.
- A resolved alert is sent once, then leaves the group; so does a one-off alert
  (``resolves`` false: a spike, a rank change, a news item), which never repeats. A
  one-off still muted ``resolve_timeout`` after it arrived leaves unsent (Alertmanager
  resolves an alert without an end after that long). An empty group goes.
- An alert that resolves before it was ever notified leaves without a notice.
- ``sent``: every (alert_id, status) notified, with when: a replay of an alert the group
  already handled changes nothing. Kept ``retention`` seconds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from alerts.route import Resolved
from core.alert import Alert

Muted = Callable[[dict[str, str]], bool]


def routing_labels(alert: Alert) -> dict[str, str]:
    """The labels routes, inhibitions and silences see."""
    return {
        **alert.labels,
        "alertname": alert.rule,
        "rule": alert.rule,
        "severity": alert.severity,
        "kind": alert.kind,
        "alert_id": alert.alert_id,
    }


def group_key(route: Resolved, alert: Alert) -> str:
    labels = route.group_labels(routing_labels(alert))
    return f"{route.receiver}:{route.path}:" + orjson.dumps(labels, option=orjson.OPT_SORT_KEYS).decode()


@dataclass(frozen=True)
class Notification:
    receiver: str
    group_key: str
    group_labels: dict[str, str]
    alerts: tuple[Alert, ...]
    refresh: bool = False  # only a re-push of firing alerts to Alertmanager receivers

    @property
    def status(self) -> str:
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    @property
    def id(self) -> str:
        """Stable for the same content: a retry or a replay carries the same id."""
        body = orjson.dumps([self.receiver, self.group_key, sorted((a.alert_id, a.status) for a in self.alerts)])
        return "ntf_" + hashlib.sha256(body).hexdigest()[:32]

    def to_dict(self) -> dict:
        return {
            "receiver": self.receiver,
            "group_key": self.group_key,
            "group_labels": self.group_labels,
            "alerts": [a.model_dump(mode="json") for a in self.alerts],
            "refresh": self.refresh,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Notification:
        return cls(
            d["receiver"],
            d["group_key"],
            d["group_labels"],
            tuple(Alert.model_validate(a) for a in d["alerts"]),
            d.get("refresh", False),
        )


@dataclass
class Group:
    key: str
    receiver: str
    path: str  # the route's node in the tree
    labels: dict[str, str]
    next_flush: float
    alerts: dict[str, dict] = field(default_factory=dict)  # alert_id -> the alert (JSON)
    arrived: dict[str, float] = field(default_factory=dict)  # alert_id -> when it came
    notified: dict[str, str] = field(default_factory=dict)  # alert_id -> status last sent
    sent: dict[str, float] = field(default_factory=dict)  # "alert_id:status" -> when notified
    pending: dict[str, dict] = field(default_factory=dict)  # notification id -> notification, not yet sent
    last_notify: float | None = None
    refreshed: float | None = None  # last push of its firing alerts to Alertmanager receivers

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> Group:
        """A group of its own: nothing shared with ``d`` (the stored value), so a change
        that is not written back (the write failed) leaves the store as it was."""
        return cls(**orjson.loads(orjson.dumps(d)))

    def firing(self) -> bool:
        return any(a["status"] == "firing" for a in self.alerts.values())


def add(group: Group | None, key: str, alert: Alert, route: Resolved, now: float) -> tuple[Group, bool]:
    """Put ``alert`` in its group (made on its first alert); False if the group had it
    already in that status, or notified it in that status (a replay)."""
    if group is None:
        group = Group(
            key,
            route.receiver,
            route.path,
            route.group_labels(routing_labels(alert)),
            next_flush=now + route.group_wait,
        )
    aid, status = alert.alert_id, alert.status
    current = group.alerts.get(aid)
    if (current is not None and current["status"] == status) or f"{aid}:{status}" in group.sent:
        return group, False
    group.alerts[aid] = alert.model_dump(mode="json")
    group.arrived.setdefault(aid, now)
    return group, True


def flush(
    group: Group, route: Resolved, now: float, muted: Muted, resolve_timeout: float, retention: float
) -> tuple[Group | None, Notification | None]:
    """If the group is due: the notification to send (None if nothing to say), and the
    group as it is after it (None when it has nothing left to hold)."""
    if group.next_flush > now:
        return group, None
    alerts = group.alerts
    for aid in [a for a, al in alerts.items() if al["status"] == "resolved" and a not in group.notified]:
        _drop(group, aid)  # resolved before anyone heard it fired
    for aid in [
        a
        for a, al in alerts.items()
        if not al["resolves"] and a not in group.notified and now - group.arrived.get(a, now) > resolve_timeout
    ]:
        _drop(group, aid)  # a one-off muted for longer than Alertmanager keeps one
    visible = {aid: al for aid, al in alerts.items() if al["status"] == "resolved" or not muted(_labels(al))}
    changed = any(group.notified.get(aid) != al["status"] for aid, al in visible.items())
    firing = any(al["status"] == "firing" for al in visible.values())
    repeat = firing and group.last_notify is not None and now - group.last_notify >= route.repeat_interval
    out = None
    if (changed or repeat) and visible:
        ordered = sorted(visible.values(), key=lambda a: (a["status"] != "firing", a["event_ts"]))
        out = Notification(group.receiver, group.key, group.labels, tuple(Alert.model_validate(a) for a in ordered))
        group.pending[out.id] = out.to_dict()
        for aid, al in visible.items():
            group.notified[aid] = al["status"]
            group.sent[f"{aid}:{al['status']}"] = now
        group.last_notify = group.refreshed = now
        for aid in [a for a, al in visible.items() if al["status"] == "resolved" or not al["resolves"]]:
            _drop(group, aid)
    group.sent = {k: t for k, t in group.sent.items() if now - t <= retention}
    group.next_flush = now + route.group_interval
    empty = not group.alerts and not group.pending and not group.sent
    return (None if empty else group), out


def refresh(group: Group, now: float, every: float, muted: Muted) -> Notification | None:
    """Every ``every`` seconds, the group's firing alerts once more, for Alertmanager
    receivers only: Alertmanager resolves an alert nobody re-pushes before its ``endsAt``."""
    if group.refreshed is not None and now - group.refreshed < every:
        return None
    firing = [
        a
        for aid, a in group.alerts.items()
        if a["status"] == "firing" and a["resolves"] and group.notified.get(aid) == "firing" and not muted(_labels(a))
    ]
    group.refreshed = now
    if not firing:
        return None
    return Notification(
        group.receiver, group.key, group.labels, tuple(Alert.model_validate(a) for a in firing), refresh=True
    )


def sent(group: Group, notification_id: str) -> None:
    group.pending.pop(notification_id, None)


def _drop(group: Group, aid: str) -> None:
    group.alerts.pop(aid, None)
    group.arrived.pop(aid, None)
    group.notified.pop(aid, None)


def _labels(alert: dict) -> dict[str, str]:
    return {
        **alert["labels"],
        "alertname": alert["rule"],
        "rule": alert["rule"],
        "severity": alert["severity"],
        "kind": alert["kind"],
        "alert_id": alert["alert_id"],
    }
