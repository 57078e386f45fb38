"""Run the worker's detector code over a JSONL file, with no Kafka."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from alerts.model import Alert
from streams.engine import Engine
from streams.events import InvalidEvent, decode
from streams.rules import RuleSet


@dataclass
class Result:
    alerts: list[Alert] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)
    events: int = 0


def run(lines: Iterable[bytes | str], ruleset: RuleSet) -> Result:
    engine, state, result = Engine(ruleset), {}, Result()
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            ev = decode(line.rstrip(b"\r\n") if isinstance(line, bytes) else line.rstrip("\r\n"))
        except InvalidEvent as exc:
            result.errors.append((n, str(exc)))
            continue
        result.events += 1
        result.alerts.extend(engine.process(ev, state))
    result.alerts.sort(key=lambda a: datetime.fromisoformat(a.event_ts))
    return result
