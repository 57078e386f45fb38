"""A known stream of events and the alerts it must produce, from the same detector code."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from connectors.publish import Publisher
from core.events import AppMetric, Topics, validate
from streams import backtest, rules

START = datetime(2024, 7, 1, tzinfo=timezone(timedelta(hours=8)))  # no CN holiday for 45 days


def scenario(series: int, days: int, seed: int = 7) -> tuple[list[AppMetric], set[str]]:
    """Daily downloads for ``series`` apps, day by day: the even apps send one ``mode:
    total`` event a day, the odd ones three ``mode: delta`` events (a replayed delta counted
    twice is a false spike); every fifth app triples on one day. Returns the events in
    publishing order and the ids of the alerts ``appwatch backtest`` finds in them."""
    rng = random.Random(seed)
    events = []
    for day in range(days):
        for i in range(series):
            base = 100_000 + (i * 7919) % 50_000
            spike = i % 5 == 0 and day == 8 + i % (days - 8)
            value = base * 3 if spike else round(base * rng.uniform(0.95, 1.05))
            parts = [value] if i % 2 == 0 else [value // 3, value // 3, value - 2 * (value // 3)]
            for n, part in enumerate(parts):
                ts = (START + timedelta(days=day, hours=6 * (n + 1) if len(parts) > 1 else 0)).isoformat()
                events.append(
                    validate(
                        dict(
                            event_id=f"ledger:{i}:{day}:{n}",
                            type="app.metric",
                            source="ledger",
                            ts=ts,
                            app_id=f"app{i:05d}",
                            platform="all",
                            country="cn",
                            metric="downloads",
                            value=part,
                            period="day",
                            mode="total" if len(parts) == 1 else "delta",
                        )
                    )
                )
    result = backtest.run((e.to_json() for e in events), rules.load())
    return events, {a.alert_id for a in result.alerts}


class Paced(threading.Thread):
    """Publish events at about ``rate`` per second from a thread; ``done`` is set at the end."""

    def __init__(self, bootstrap: str, topics: Topics, events: list, rate: float = 1000.0) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topics, self.events, self.rate = bootstrap, topics, events, rate
        self.done = threading.Event()
        self.stop = threading.Event()
        self.sent = 0

    def run(self) -> None:
        step = max(1, int(self.rate / 20))  # 20 batches a second
        started = time.monotonic()
        try:
            with Publisher(self.bootstrap, self.topics) as pub:
                for i in range(0, len(self.events), step):
                    if self.stop.is_set():
                        return
                    pub.send_all(self.events[i : i + step])
                    self.sent += len(self.events[i : i + step])
                    ahead = started + self.sent / self.rate - time.monotonic()
                    if ahead > 0:
                        self.stop.wait(ahead)  # pacing, not synchronisation
                pub.flush()
        finally:
            self.done.set()


def delivered(verified: list[tuple[str, dict]]) -> dict[str, set[str]]:
    """alert_id -> distinct webhook-ids the receiver got for it (receiver-side dedup), every rule."""
    out: dict[str, set[str]] = {}
    for msg_id, payload in verified:
        out.setdefault(payload["data"]["alert_id"], set()).add(msg_id)
    return out


def settle(hooks, expected: set[str]) -> dict:
    """What the receiver got against the ledger, as the fault report's counts."""
    got = delivered(hooks.verified())
    ids = [{k.lower(): v for k, v in h.items()}["webhook-id"] for h, _, _ in hooks.requests]
    return dict(
        alerts_expected=len(expected),
        delivered=len(set(got) & expected),
        missing=len(expected - set(got)),
        duplicated=sum(len(v) > 1 for v in got.values()),
        raw_repeats=len(ids) - len(set(ids)),
        unexpected=len(set(got) - expected),
    )


def finish(feed: Paced, hooks, expected: set[str], request, fault: str, wait: float = 180) -> dict:
    """Wait for the feed to end and for every expected alert, then record the fault row;
    returns the counts (``settle``). The feed stops whatever happens."""
    from tests.fault.report import recorder

    try:
        feed.done.wait(120)
        assert feed.sent == len(feed.events)
        try:
            hooks.wait(lambda r: expected <= set(delivered(hooks.verified())), wait, f"all {len(expected)} expected")
        except pytest.fail.Exception as exc:
            got = delivered(hooks.verified())
            pytest.fail(f"{exc}; missing {sorted(expected - set(got))}, unexpected {sorted(set(got) - expected)}")
    finally:
        feed.stop.set()
    counts = settle(hooks, expected)
    recorder(request)(fault, events_in=len(feed.events), receiver="webhook", **counts)
    return counts
