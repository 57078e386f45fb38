"""Run the worker's detector code over a JSONL file, with no Kafka."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Iterable

from alerts.model import Alert
from streams.engine import Engine, alerts_in_order
from streams.events import Event, InvalidEvent, decode
from streams.rules import RuleSet


@dataclass
class Result:
    alerts: list[Alert] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)
    events: list[Event] = field(default_factory=list)


def run(lines: Iterable[bytes | str], ruleset: RuleSet, companies: dict[str, str] | None = None) -> Result:
    engine, state, result = Engine(ruleset, companies), {}, Result()
    now = time.time()
    alerts: list[Alert] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            ev = decode(line.rstrip(b"\r\n") if isinstance(line, bytes) else line.rstrip("\r\n"))
        except InvalidEvent as exc:
            result.errors.append((n, str(exc)))
            continue
        result.events.append(ev)
        alerts.extend(engine.process(ev, state, now=now))
    alerts.extend(engine.finish(state))
    result.alerts = alerts_in_order(alerts)
    return result
