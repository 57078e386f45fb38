"""Apply rules to events. The same code runs in the Faust worker and in backtest.

``state`` is any mutable mapping of series key -> JSON-able dict: a Faust
table in the worker, a plain dict in backtest.
"""

from __future__ import annotations

from typing import Callable, MutableMapping

from alerts.model import Alert, alert_id
from streams import windows
from streams.detectors.spike import detect
from streams.events import AppMetric, Event
from streams.rules import RuleSet, SpikeRule


def series_key(rule: SpikeRule, ev: AppMetric) -> str:
    return f"{rule.name}|{ev.app_id}|{ev.platform}|{ev.country}|{ev.metric}"


def spike_step(
    rule: SpikeRule, state: dict | None, ev: AppMetric, observed_at: float | None = None
) -> tuple[dict | None, Alert | None]:
    """Fold one event into its series; return the new state and an alert, if any.

    The new state is None when the event is older than the window keeps.
    """
    p, tz = rule.params, rule.tz
    day = windows.day_of(ev.ts, tz)
    state = state or windows.init()
    newest = max(state["days"], default=day.isoformat())
    new = windows.add(state, day, ev.value, ev.mode, keep_days=p.baseline_days + p.allowed_lateness_days)
    if new is None or windows.has_fired(new, day):
        return new, None
    value = new["days"][day.isoformat()]
    spike = detect(value, windows.history(new, day, p.baseline_days), p)
    if spike is None:
        return new, None
    labels = {"app_id": ev.app_id, "platform": ev.platform, "country": ev.country,
              "metric": ev.metric, **rule.labels}
    start, end = windows.bounds(day, tz)
    fields = dict(rule=rule.name, app_id=ev.app_id, app_name=ev.app_name or ev.app_id,
                  platform=ev.platform, country=ev.country, metric=ev.metric, value=value,
                  baseline=spike.baseline, ratio=spike.ratio, day=day.isoformat(),
                  baseline_days=p.baseline_days, severity=rule.severity)
    alert = Alert(
        alert_id=alert_id(rule.name, labels, start), rule=rule.name, kind="spike",
        severity=rule.severity, labels=labels, value=value, baseline=spike.baseline,
        window_start=start, window_end=end, event_ts=ev.ts.isoformat(),
        summary=rule.summary.format_map(fields), observed_at=observed_at,
        late=day.isoformat() < newest, source_event_id=ev.event_id,
    )
    return windows.mark_fired(new, day), alert


class Engine:
    def __init__(self, rules: RuleSet, on_too_late: Callable[[Event], None] | None = None) -> None:
        self.rules = rules.rules
        self.on_too_late = on_too_late

    def process(
        self, ev: Event, state: MutableMapping[str, dict], observed_at: float | None = None
    ) -> list[Alert]:
        out = []
        for rule in self.rules:
            if not rule.match.matches(ev):
                continue
            key = series_key(rule, ev)
            new, alert = spike_step(rule, state.get(key), ev, observed_at)
            if new is not None:
                state[key] = new
            elif self.on_too_late:
                self.on_too_late(ev)
            if alert is not None:
                out.append(alert)
        return out
