"""Grouping with Alertmanager's timing, as a pure state machine (the caller passes ``now``).

- A group's first notification goes out ``group_wait`` after its first alert.
- Then the group is looked at every ``group_interval``: it notifies when something
  changed (a new firing alert, or one resolved since it was notified), else
  again after ``repeat_interval`` while anything fires.
- A resolved alert is sent once, then leaves the group; so does a one-off alert
  (``resolves`` false: a spike, a rank change, a news item), which never repeats.
  An empty group goes.
  An alert that resolves before it was ever notified leaves without a notice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

from alerts.model import Alert
from alerts.route import Resolved


def routing_labels(alert: Alert) -> dict[str, str]:
    """The labels routes, inhibitions and silences see."""
    return {**alert.labels, "alertname": alert.rule, "rule": alert.rule,
            "severity": alert.severity, "kind": alert.kind, "alert_id": alert.alert_id}


@dataclass(frozen=True)
class Notification:
    receiver: str
    group_key: str
    group_labels: dict[str, str]
    alerts: tuple[Alert, ...]

    @property
    def status(self) -> str:
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    @property
    def id(self) -> str:
        """Stable for the same content: a retry or a replay carries the same id."""
        body = orjson.dumps([self.receiver, self.group_key,
                             sorted((a.alert_id, a.status) for a in self.alerts)])
        return "ntf_" + hashlib.sha256(body).hexdigest()[:32]


@dataclass
class Group:
    key: str
    route: Resolved
    labels: dict[str, str]
    next_flush: float
    alerts: dict[str, Alert] = field(default_factory=dict)
    notified: dict[str, str] = field(default_factory=dict)  # alert_id -> status last sent
    last_notify: float | None = None


class Grouper:
    def __init__(self) -> None:
        self.groups: dict[str, Group] = {}

    def add(self, alert: Alert, route: Resolved, now: float) -> str:
        labels = route.group_labels(routing_labels(alert))
        key = f"{route.receiver}:{route.path}:" + orjson.dumps(labels, option=orjson.OPT_SORT_KEYS).decode()
        group = self.groups.get(key)
        if group is None:
            group = self.groups[key] = Group(key, route, labels, next_flush=now + route.group_wait)
        group.alerts[alert.alert_id] = alert
        return key

    def due(self, now: float) -> list[Notification]:
        out = []
        for key, g in list(self.groups.items()):
            if g.next_flush > now:
                continue
            for aid in [a for a, al in g.alerts.items() if al.status == "resolved" and a not in g.notified]:
                del g.alerts[aid]  # resolved before anyone heard it fired
            changed = any(g.notified.get(aid) != a.status for aid, a in g.alerts.items())
            firing = any(a.status == "firing" for a in g.alerts.values())
            repeat = (firing and g.last_notify is not None
                      and now - g.last_notify >= g.route.repeat_interval)
            if changed or repeat:
                alerts = tuple(sorted(g.alerts.values(), key=lambda a: (a.status != "firing", a.event_ts)))
                out.append(Notification(g.route.receiver, key, g.labels, alerts))
                g.notified = {aid: a.status for aid, a in g.alerts.items()}
                g.last_notify = now
            for aid in [a for a, al in g.alerts.items() if al.status == "resolved" or not al.resolves]:
                del g.alerts[aid]
                g.notified.pop(aid, None)
            g.next_flush = now + g.route.group_interval
            if not g.alerts:
                del self.groups[key]
        return out

    def next_wakeup(self) -> float | None:
        return min((g.next_flush for g in self.groups.values()), default=None)
