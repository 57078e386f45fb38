"""kill -9 the worker 5 times at random points of a stream published at about 1k events/s.

Each kill is of a running worker (exit status -9). The first comes 0.5-3 s into the 24 s
stream; a restart takes about 13 s until the worker is ready, so the later kills may come
after the last event was published (seen: 2 of the 5 while it was). The receiver dedups by
webhook-id; the ledger of expected alerts comes from the same detector code run offline.
Nothing may be missing, and each alert has one webhook-id.
"""

from __future__ import annotations

import random
import signal
import time

import pytest

from tests.fault.ledger import Paced, finish, scenario

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

KILLS = 5


def test_kill_9_five_times_under_load(broker, topics, hooks, start_worker, request):
    events, expected = scenario(series=400, days=30)
    assert (len(events), len(expected)) == (24_000, 80)  # totals and deltas; 80 spikes
    env = dict(APPWATCH_WEBHOOK_URL=hooks.url, APPWATCH_WEBHOOK_SECRET=hooks.secret, APPWATCH_CONSOLE="false")
    w = start_worker(topics, **env)
    feed = Timed(broker, topics, events, rate=1000)
    started = time.monotonic()
    feed.start()
    rng = random.Random(11)
    kills = []  # (seconds since the feed started, events published by then, the killed worker's exit status)
    try:
        for _ in range(KILLS):
            feed.done.wait(rng.uniform(0.5, 3.0))  # a random point: 0.5-3 s after the last start
            assert w.proc.poll() is None, f"worker exited {w.proc.returncode} on its own before kill {len(kills) + 1}"
            at, sent = time.monotonic() - started, feed.sent
            w.proc.kill()
            kills.append((round(at, 1), sent, w.proc.wait(10)))
            w = start_worker(topics, **env)
    except BaseException:
        feed.stop.set()
        raise
    counts = finish(feed, hooks, expected, request, f"worker kill -9 x{KILLS} at ~1k events/s", wait=240)
    assert counts["missing"] == counts["unexpected"] == counts["duplicated"] == 0, counts
    assert [status for *_, status in kills] == [-signal.SIGKILL] * KILLS, kills  # 5 kills, each a kill -9
    assert kills[0][1] < len(events), kills  # the first one while the stream was being published
    feed.join(10)  # ``took`` is set as the thread ends, just after ``done``
    assert 700 <= len(events) / feed.took <= 1100, f"{len(events)} events in {feed.took:.1f} s"  # ~1k/s


class Timed(Paced):
    """The paced feed, timed: ``took`` is how long publishing every event took."""

    took = float("nan")

    def run(self) -> None:
        begun = time.monotonic()
        try:
            super().run()
        finally:
            self.took = time.monotonic() - begun
