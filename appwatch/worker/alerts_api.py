"""appwatch's own alerts API: what fires, what waits out its ``for``, what resolved lately.

    GET /api/v1/alerts          filter (repeatable, Alertmanager's matchers), state
                                (repeatable or comma-separated: firing, pending, resolved,
                                silenced, inhibited; default all but resolved), group_by
                                (comma-separated label names; default ``rule``)
                                -> {"groups": [{"labels", "alerts"}], "total"}
    GET /api/v1/alerts/{id}     one alert, 404 when none has that id

Firing and resolved alerts come from the firing set every worker reads whole
(``internal.firing``: each entry holds the whole alert), so every worker lists each of
them once. Pending ones (threshold rules whose ``for`` has not passed) come from the
series of the answering worker's partitions and say so (``worker``). Read scope.

An alert's ``state`` is firing, pending or resolved; its ``status`` is what ``state=``
filters on: ``silenced`` or ``inhibited`` for a firing alert something mutes, else its state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import faust

from alerts.pipeline import firing_now
from alerts.route import inhibitors
from core.alert import alert_id
from core.auth import Caller, Tokens
from streams.detectors import threshold
from streams.rules import ThresholdRule

from ..http import Answer, caller, denied, reply
from .amapi import iso, matchers_of

STATES = ("firing", "pending", "resolved", "silenced", "inhibited")
DEFAULT_STATES = ("firing", "pending", "silenced", "inhibited")
SERIES = ("app_id", "platform", "country", "metric")


def links(aid: str) -> dict[str, str]:
    return {"self": f"/api/v1/alerts/{aid}", "console": f"/alerts/{aid}", "silence": f"/silences/new?alert={aid}"}


def states_of(values: Iterable[str]) -> tuple[str, ...]:
    """``state`` query values (repeated or comma-separated); ValueError naming a bad one."""
    out = tuple(s.strip() for v in values for s in v.split(",") if s.strip())
    bad = [s for s in out if s not in STATES]
    if bad:
        raise ValueError(f"state: {bad[0]!r} is not one of {', '.join(STATES)}")
    return out or DEFAULT_STATES


def grouped(alerts: list[dict], names: list[str]) -> list[dict]:
    """Alerts grouped by the values of the labels ``names``, groups in label order, the
    newest alert first in each."""
    groups: dict[tuple, dict] = {}
    for a in alerts:
        labels = {n: a["labels"].get(n, "") for n in names}
        groups.setdefault(tuple(labels.values()), {"labels": labels, "alerts": []})["alerts"].append(a)
    for g in groups.values():
        g["alerts"].sort(key=lambda a: a["startsAt"] or "", reverse=True)
    return [groups[k] for k in sorted(groups)]


class AlertsApi:
    def __init__(self, tokens: Tokens, parts, clock: Callable[[], float] = time.time) -> None:
        """``parts``: the worker's ``firing``, ``silences``, ``pipeline`` (its alerts config),
        ``detect`` (engine and stage) and ``worker`` (this worker's name)."""
        self.tokens, self.parts, self.clock = tokens, parts, clock

    def list(self, who: Caller | str | None, filters: list[str], states: list[str], group_by: str | None) -> Answer:
        if (no := denied(self.tokens, who, "read")) is not None:
            return no
        try:
            shown = states_of(states)
            wanted = matchers_of(filters)
        except ValueError as exc:
            return Answer(400, {"error": str(exc) if str(exc).startswith("state:") else f"bad filter: {exc}"})
        names = [n.strip() for n in (group_by if group_by is not None else "rule").split(",") if n.strip()]
        hits = [
            a
            for a in self.current()
            if a["status"] in shown and all(m.matches(a["labels"].get(m.name, "")) for m in wanted)
        ]
        return Answer(200, {"groups": grouped(hits, names), "total": len(hits)})

    def get(self, who: Caller | str | None, aid: str) -> Answer:
        if (no := denied(self.tokens, who, "read")) is not None:
            return no
        found = next((a for a in self.current() if a["alert_id"] == aid), None)
        return Answer(404, {"error": f"no alert {aid}"}) if found is None else Answer(200, found)

    def current(self) -> list[dict]:
        """Every alert the API knows now: the firing set's, then this worker's pending ones."""
        now = self.clock()
        entries = dict(list(self.parts.firing.items()))
        sources = {aid: f["labels"] for aid, f in entries.items() if firing_now(f, now)}
        silences = list(self.parts.silences.by_id.values())
        out = [self._alert(aid, f, now, sources, silences) for aid, f in entries.items()]
        out = [a for a in out if a is not None]
        return out + [a for a in self._pending(silences, now) if a["alert_id"] not in entries]

    def _alert(self, aid: str, f: dict, now: float, sources: dict, silences: list) -> dict | None:
        """One firing-set entry as the API shows it; None for a one-off past its end."""
        labels, a = f["labels"], f.get("alert") or {}
        resolved_at = f.get("resolvedAt")
        if resolved_at is None and not firing_now(f, now):
            return None
        silenced, inhibited = [], []
        if resolved_at is None:
            silenced = [s.id for s in silences if s.mutes(labels, now)]
            others = {k: v for k, v in sources.items() if k != aid}
            inhibited = inhibitors(labels, others, self.parts.pipeline.config.inhibit_rules)
        state = "firing" if resolved_at is None else "resolved"
        status = "silenced" if silenced else ("inhibited" if inhibited else state)
        return {
            "alert_id": aid,
            "rule": a.get("rule") or labels.get("rule", ""),
            "kind": a.get("kind") or labels.get("kind", ""),
            "severity": a.get("severity") or labels.get("severity", ""),
            "labels": labels,
            "state": state,
            "status": status,
            "value": a.get("value"),
            "baseline": a.get("baseline"),
            "threshold": a.get("threshold"),
            "trend": a.get("trend"),
            "summary": f.get("summary") or a.get("summary", ""),
            "context": a.get("context") or [],
            "window_start": a.get("window_start"),
            "window_end": a.get("window_end"),
            "startsAt": f.get("startsAt"),
            "endsAt": iso(f["until"]) if f.get("until") else None,
            "resolvedAt": iso(resolved_at) if resolved_at is not None else None,
            "silencedBy": silenced,
            "inhibitedBy": inhibited,
            "links": links(aid),
        }

    def _pending(self, silences: list, now: float) -> list[dict]:
        """Threshold breaches of this worker's series that wait out their ``for``."""
        rules = {r.name: r for r in self.parts.detect.engine.rules if isinstance(r, ThresholdRule)}
        out = []
        for part in list(self.parts.detect.stage.stage.state.values()):
            for key, st in list(part.items()):
                for name, fold in list(st.rules.items()):
                    rule = rules.get(name)
                    if rule is None or not isinstance(fold, threshold.State) or fold.due is None or fold.firing:
                        continue
                    out.append(self._pending_alert(rule, dict(zip(SERIES, key.split("|"), strict=False)), fold))
        for a in out:
            a["silencedBy"] = [s.id for s in silences if s.mutes(a["labels"], now)]
        return out

    def _pending_alert(self, rule: ThresholdRule, series: dict[str, str], fold: threshold.State) -> dict:
        labels = {**series, **rule.labels}
        start = datetime.fromtimestamp(fold.since or 0.0, UTC).isoformat()
        aid = alert_id(rule.name, labels, start)
        fields = dict(rule=rule.name, severity=rule.severity, app_name=series.get("app_id", ""), **series)
        return {
            "alert_id": aid,
            "rule": rule.name,
            "kind": rule.kind,
            "severity": rule.severity,
            "labels": {
                **labels,
                "alertname": rule.name,
                "rule": rule.name,
                "severity": rule.severity,
                "kind": rule.kind,
            }
            | {"alert_id": aid},
            "state": "pending",
            "status": "pending",
            "value": fold.value,
            "baseline": rule.params.value,
            "threshold": rule.params.value,
            "trend": None,
            "summary": rule.render(fields | {"value": fold.value, "threshold": rule.params.value}),
            "context": [],
            "window_start": start,
            "window_end": None,
            "startsAt": start,
            "endsAt": None,
            "resolvedAt": None,
            "due": iso(fold.due),
            "silencedBy": [],
            "inhibitedBy": [],
            "links": links(aid),
            "worker": self.parts.worker,
        }

    def install(self, app: faust.App) -> None:
        api = self

        @app.page("/api/v1/alerts")
        class AlertsView(faust.web.View):
            async def get(self, request):
                q = request.query
                answer = api.list(caller(request), q.getall("filter", []), q.getall("state", []), q.get("group_by"))
                return reply(self, answer)

        @app.page("/api/v1/alerts/{alert_id}")
        class AlertView(faust.web.View):
            async def get(self, request, alert_id):
                return reply(self, api.get(caller(request), alert_id))
