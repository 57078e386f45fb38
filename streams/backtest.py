"""Run the worker's detector code over a JSONL file, with no Kafka.

Events are decoded as the detect stage decodes them (``decode_fast``) and folded by the
same ``Engine``, which ignores an event it already folded in (its ``event_id`` again)
as the worker does. An ``event_id`` the file had before is also left out of
``Result.events`` and counted in ``Result.duplicates``.

``Result.trace`` keeps what the rules saw on the way (``Engine.explain``): per rule and
series, each day's total, baseline and fire lines, or the observations; and the day each
spike or change alert judged, as it fired. The report charts that, and nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from core.alert import Alert
from core.events import Event, InvalidEvent, decode_fast
from streams.engine import DayView, Engine, State, alerts_in_order, too_far_ahead
from streams.rules import RuleSet


@dataclass
class Trace:
    """What the rules saw, keyed by (rule name, ``engine.series_of`` series)."""

    days: dict[tuple[str, str], dict[int, DayView]] = field(default_factory=dict)  # day -> its last view
    points: dict[tuple[str, str], list[tuple[datetime, float]]] = field(default_factory=dict)
    fired: dict[str, DayView] = field(default_factory=dict)  # alert id -> the day it judged, as it fired

    def add(self, engine: Engine, ev: Event, state: State) -> None:
        for o in engine.explain(ev, state):
            if o.day is not None:
                self.days.setdefault((o.rule, o.series), {})[o.day.day] = o.day
            else:
                self.points.setdefault((o.rule, o.series), []).append((o.ts, o.value))

    def fire(self, engine: Engine, alerts: Iterable[Alert], state: State) -> None:
        for a in alerts:
            if a.kind in ("spike", "change"):
                view = engine.explain_alert(a, state)
                if view is not None:
                    self.fired[a.alert_id] = view


@dataclass
class Result:
    alerts: list[Alert] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)
    events: list[Event] = field(default_factory=list)  # each distinct event once
    duplicates: int = 0  # events seen before (same event_id), left out
    trace: Trace = field(default_factory=Trace)


def decoded(lines: Iterable[bytes | str], errors: list[tuple[int, str]]) -> Iterator[Event]:
    """The events of ``lines``, decoded as the detect stage does; the invalid ones go to
    ``errors`` as (line number, message). Blank lines are skipped."""
    return numbered(enumerate(lines, 1), errors)


def numbered(lines: Iterable[tuple[int, bytes | str]], errors: list[tuple[int, str]]) -> Iterator[Event]:
    """``decoded`` over (line number, line) pairs: a file read in steps, or CSV rows."""
    for n, line in lines:
        if not line.strip():
            continue
        if isinstance(line, str):
            line = line.encode("utf-8", "surrogatepass")
        try:
            yield decode_fast(line.rstrip(b"\r\n"))
        except InvalidEvent as exc:
            errors.append((n, str(exc)))


class Run:
    """A backtest fed in steps (``feed`` some numbered lines, again, then ``finish``), so
    a caller can yield between steps and show how far it got."""

    def __init__(self, ruleset: RuleSet, companies: dict[str, str] | None = None) -> None:
        self.ruleset, self.result, self.seen = ruleset, Result(), set()
        self.engine, self.state = Engine(ruleset, companies), {}
        self.now = time.time()
        self.alerts: list[Alert] = []

    def feed(self, lines: Iterable[tuple[int, bytes | str]]) -> None:
        result, engine, state, now = self.result, self.engine, self.state, self.now
        for ev in numbered(lines, result.errors):
            fired = engine.process(ev, state, now=now)
            self.alerts.extend(fired)
            result.trace.fire(engine, fired, state)
            if ev.event_id in self.seen:
                result.duplicates += 1
                continue
            self.seen.add(ev.event_id)
            result.events.append(ev)
            if not too_far_ahead(ev, now):
                result.trace.add(engine, ev, state)

    def finish(self) -> Result:
        self.alerts.extend(self.engine.finish(self.state))
        self.result.alerts = alerts_in_order(self.alerts)
        return self.result


def run(lines: Iterable[bytes | str], ruleset: RuleSet, companies: dict[str, str] | None = None) -> Result:
    r = Run(ruleset, companies)
    r.feed(enumerate(lines, 1))
    return r.finish()
