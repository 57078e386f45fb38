"""Run the worker's detector code over a JSONL file, with no Kafka.

Events are decoded as the detect stage decodes them (``decode_fast``) and folded by the
same ``Engine``, which ignores an event it already folded in (its ``event_id`` again)
as the worker does. An ``event_id`` the file had before is also left out of
``Result.events`` (what the report charts) and counted in ``Result.duplicates``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

from core.alert import Alert
from streams.engine import Engine, alerts_in_order
from core.events import Event, InvalidEvent, decode_fast
from streams.rules import RuleSet


@dataclass
class Result:
    alerts: list[Alert] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)
    events: list[Event] = field(default_factory=list)  # each distinct event once
    duplicates: int = 0  # events seen before (same event_id), left out


def run(lines: Iterable[bytes | str], ruleset: RuleSet, companies: dict[str, str] | None = None) -> Result:
    result, seen = Result(), set()
    engine, state = Engine(ruleset, companies), {}
    now = time.time()
    alerts: list[Alert] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if isinstance(line, str):
            line = line.encode("utf-8", "surrogatepass")
        try:
            ev = decode_fast(line.rstrip(b"\r\n"))
        except InvalidEvent as exc:
            result.errors.append((n, str(exc)))
            continue
        alerts.extend(engine.process(ev, state, now=now))
        if ev.event_id in seen:
            result.duplicates += 1
        else:
            seen.add(ev.event_id)
            result.events.append(ev)
    alerts.extend(engine.finish(state))
    result.alerts = alerts_in_order(alerts)
    return result
