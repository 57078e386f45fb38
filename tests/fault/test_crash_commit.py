"""kill -9 between the detect stage's state write and its offset commit.

The state in the changelog then holds input that the committed offsets say is unread:
the next worker reads it again. The state's offsets and event ids must make that replay
change nothing: no delta counted twice (a false spike), no expected alert missing.
"""

from __future__ import annotations

import pytest

from tests.fault.ledger import Paced, finish, scenario

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_kill_9_after_the_state_write_before_the_commit(broker, topics, hooks, start_worker, request):
    events, expected = scenario(series=200, days=30)
    assert (len(events), len(expected)) == (12_000, 40)
    env = dict(
        APPWATCH_WEBHOOK_URL=hooks.url,
        APPWATCH_WEBHOOK_SECRET=hooks.secret,
        APPWATCH_CONSOLE="false",
        APPWATCH_API_ANONYMOUS_READ="true",
    )
    crashing = start_worker(topics, module="tests.fault.crash_worker", APPWATCH_TEST_CRASH_AT="3", **env)
    feed = Paced(broker, topics, events, rate=2000)
    feed.start()
    try:
        assert crashing.proc.wait(60) == -9, "the worker did not die at its third state write"
        w = start_worker(topics, **env)
    except BaseException:
        feed.stop.set()
        raise
    try:
        counts = finish(feed, hooks, expected, request, "kill -9 between state write and offset commit")
    except pytest.fail.Exception as exc:
        pytest.fail(f"{exc}\nthe worker then: {where(w, expected)}")
    assert counts["missing"] == counts["unexpected"] == counts["duplicated"] == 0, counts
    # the replay was real: the state already held events that the commit did not cover
    assert w.metric("appwatch_events_duplicate_total") > 0


def where(w, expected: set[str]) -> dict:
    """What the worker knows of the alerts when some never arrived: its counters, and
    which expected ones its firing set holds (dispatch saw them) or not."""
    import httpx

    firing = {
        a["alert_id"]
        for g in httpx.get(f"{w.url}/api/v1/alerts?state=firing&state=resolved", timeout=10).json()["groups"]
        for a in g["alerts"]
    }
    names = ("appwatch_alerts_total", "appwatch_alerts_deduplicated_total", "appwatch_notifications_total")
    return {
        **{n: w.metric(n) for n in names},
        "in_firing_set": len(expected & firing),
        "firing_set": len(firing),
        "ready": httpx.get(f"{w.url}/readyz", timeout=10).text,
    }
