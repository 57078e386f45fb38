"""Two workers in one consumer group split the partitions; stopping one mid-stream loses
nothing and sends nothing twice."""

from __future__ import annotations

import signal

import pytest

from tests.conftest import wait_until
from tests.fault.ledger import Paced, finish, scenario

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_two_workers_then_one_stops_mid_stream(broker, topics, hooks, start_worker, request):
    events, expected = scenario(series=150, days=30)
    assert (len(events), len(expected)) == (9_000, 30)  # totals and deltas; 30 spikes
    env = dict(APPWATCH_WEBHOOK_URL=hooks.url, APPWATCH_WEBHOOK_SECRET=hooks.secret, APPWATCH_CONSOLE="false")
    a = start_worker(topics, **env)
    b = start_worker(topics, **env)
    feed = Paced(broker, topics, events, rate=1000)
    feed.start()
    try:
        # both take part: each has consumed events of its own partitions
        wait_until(
            lambda: a.metric("appwatch_events_total") > 0 and b.metric("appwatch_events_total") > 0,
            60,
            "both workers consuming",
        )
        wait_until(lambda: feed.sent >= len(events) // 2, 60, "half the stream published")
        stopped_at = feed.sent
        b.stop()  # SIGTERM mid-stream: its partitions move to the other worker
    except BaseException:
        feed.stop.set()
        raise
    counts = finish(feed, hooks, expected, request, "2 workers, one stopped mid-stream")
    assert counts["missing"] == counts["unexpected"] == counts["duplicated"] == 0, counts
    assert counts["raw_repeats"] == 0, "a notification was delivered twice"
    assert len(events) // 2 <= stopped_at < len(events), stopped_at  # mid-stream: half published, not all
    assert b.proc.returncode != -signal.SIGKILL, "b did not stop on SIGTERM; it was killed after 10 s"
