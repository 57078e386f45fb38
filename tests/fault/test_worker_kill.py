"""kill -9 the worker at random points, at least 5 times, while about 1k events/s flow.

The receiver dedups by webhook-id; the ledger of expected alerts comes from the same
detector code run offline. Nothing may be missing, and each alert has one webhook-id.
"""

from __future__ import annotations

import random

import pytest

from tests.fault.ledger import Paced, finish, scenario

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

KILLS = 5


def test_kill_9_five_times_under_load(broker, topics, hooks, start_worker, request):
    events, expected = scenario(series=400, days=30)
    assert (len(events), len(expected)) == (24_000, 80)  # totals and deltas; 80 spikes
    env = dict(APPWATCH_WEBHOOK_URL=hooks.url, APPWATCH_WEBHOOK_SECRET=hooks.secret, APPWATCH_CONSOLE="false")
    w = start_worker(topics, **env)
    feed = Paced(broker, topics, events, rate=1000)
    feed.start()
    rng = random.Random(11)
    try:
        for _ in range(KILLS):
            feed.done.wait(rng.uniform(0.5, 3.0))  # a random point in the stream
            w.proc.kill()
            w.proc.wait(10)
            w = start_worker(topics, **env)
    except BaseException:
        feed.stop.set()
        raise
    counts = finish(feed, hooks, expected, request, f"worker kill -9 x{KILLS} at ~1k events/s", wait=240)
    assert counts["missing"] == counts["unexpected"] == counts["duplicated"] == 0, counts
