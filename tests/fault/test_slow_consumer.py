"""A receiver that holds each answer 30 s while events keep flowing.

Through a real worker: ``slow`` (a threaded HTTP server) holds every request 30 s while
~280 events are published over ~30 s; the webhook notifier gives up on a request after
10 s and retries it, with the same ``webhook-id``. Once the flow is over it answers at
once. ``healthy`` answers at once throughout.

A slow receiver must stay a slow receiver: the consumer must not stall (no rebalance,
so no event read or evaluated twice, no alert fired twice), every alert the engine
expects reaches the slow receiver (once after dedup by ``webhook-id``) and the healthy
receiver gets each alert within seconds, not behind the slow one's timeouts.
"""

from __future__ import annotations

import threading
import time

import pytest

from appwatch.receiver import new_secret
from connectors.publish import Publisher
from tests.conftest import Hooks, wait_until
from tests.fault.harness import (
    FaultReceiver,
    Reply,
    accepted_ids,
    alerts_config,
    day,
    expected_alerts,
)
from tests.fault.report import Ledger, alert_key, recorder

SLOW_HOLD = 30.0  # seconds the slow receiver holds each answer while the events flow
FLOW_SECONDS = 30.0  # the live day's 24 hours are published over this long
HEALTHY_MAX_DELAY = 5.0  # event in Kafka -> healthy receiver; the webhook timeout is 10 s
BASE = 240_000  # a day's downloads: 10k an hour
SPIKERS = {f"spiker{i}": 2 + 3 * i for i in range(6)}  # app -> the hour of its burst
CONTROLS = [f"flat{i}" for i in range(6)]  # half the market flat: the spikers are no market move
SLOW, HEALTHY = "slow/webhook/0", "healthy/webhook/0"


def live_hour(hour: int) -> list:
    """One delta event per app for ``hour`` of 8 Nov; a spiker's burst crosses 2x the
    baseline at its hour (10k x h + 500k >= 480k), so the alerts fire along the flow."""
    out = []
    for app in [*SPIKERS, *CONTROLS]:
        value = 500_000 if SPIKERS.get(app) == hour else BASE / 24
        out.append(day(app, 8, value, hour=hour, mode="delta"))
    return out


@pytest.fixture
def slow():
    flowing = threading.Event()
    receiver = FaultReceiver(
        new_secret(), threaded=True, respond=lambda hit, earlier: Reply(204, hold=SLOW_HOLD if flowing.is_set() else 0)
    )
    receiver.flowing = flowing
    receiver.start()
    yield receiver
    receiver.stop()  # ends the holds at once


@pytest.mark.integration
@pytest.mark.timeout(240)
def test_a_slow_receiver_neither_stalls_the_consumer_nor_delays_the_others(
    broker, topics, httpserver, slow, start_worker, tmp_path, request
):
    rec = recorder(request)
    healthy = Hooks(httpserver, slow.secret, "/healthy")
    config = alerts_config(tmp_path / "alerts.yaml", {"slow": slow.url, "healthy": healthy.url})
    w = start_worker(topics, APPWATCH_ALERTS_CONFIG=str(config), HOOK_SECRET=slow.secret)
    rebalances = w.metric("appwatch_rebalances_total")
    assert rebalances == 1

    apps = [*SPIKERS, *CONTROLS]
    history = [day(app, d, BASE) for d in range(1, 8) for app in apps]
    hours = [live_hour(h) for h in range(24)]
    events = [*history, *(ev for batch in hours for ev in batch)]
    expected = expected_alerts(events)
    want = expected.webhook_ids
    assert sorted(a.labels["app_id"] for a in expected.alerts) == sorted(SPIKERS)

    slow.flowing.set()
    with Publisher(broker, topics) as pub:
        pub.send_all(history)
        pub.flush()
        start = time.monotonic()
        for i, batch in enumerate(hours):  # paced: the hours arrive along FLOW_SECONDS
            time.sleep(max(0.0, start + i * FLOW_SECONDS / len(hours) - time.monotonic()))
            pub.send_all(batch)
            pub.flush()
    healthy.wait(lambda r: len(r) >= len(want), 60, "every alert at the healthy receiver")
    slow.wait(lambda hits: any(h.held for h in hits), 30, "the slow receiver holding a request")
    held_then = sum(1 for h in slow.snapshot() if h.held)
    slow.flowing.clear()  # the flow is over: the slow receiver answers at once from now on
    slow_since = time.time()

    slow.wait(
        lambda hits: accepted_ids(h for h in hits if not h.held) >= want,
        120,
        "every alert answered at once by the slow receiver after the flow",
    )
    wait_until(
        lambda: w.metric("appwatch_notifications_total", receiver=SLOW, outcome="sent") == len(want),
        30,
        "the worker counting every slow delivery as sent",
    )
    wait_until(lambda: w.metric("appwatch_events_total") >= len(events), 30, "every event consumed")
    hits = slow.snapshot()

    slow_ledger = Ledger(want).saw_all(hits)
    healthy_ledger = Ledger(want)
    for msg_id, payload in healthy.verified():
        healthy_ledger.saw(msg_id, accepted=True, key=alert_key(payload["data"]))
    rec(
        f"receiver holds answers {SLOW_HOLD:.0f}s while {len(events)} events flow",
        events_in=len(events),
        ledger=slow_ledger,
        receiver="slow",
    )
    rec("healthy receiver beside a slow one", events_in=len(events), ledger=healthy_ledger, receiver="healthy")

    # the slow receiver: every expected alert, once after dedup, nothing else
    assert [h.error for h in hits if h.error] == []
    assert slow_ledger.missing_ids == set() and slow_ledger.unexpected_ids == set()
    assert slow_ledger.duplicated == 0 and len({h.webhook_id for h in hits}) == len(want)
    assert held_then >= 1  # it did hold requests (the notifier timed out and retried)
    assert w.metric("appwatch_notifications_total", receiver=SLOW, outcome="gave_up") == 0

    # the healthy receiver: every alert, each within seconds of its event entering Kafka,
    # all of them while the slow receiver was still holding its answers
    assert healthy_ledger.missing_ids == set() and healthy_ledger.unexpected_ids == set()
    assert len(healthy.requests) == len(want)
    delays = {
        p["data"]["labels"]["app_id"]: round(t - p["data"]["observed_at"], 2)
        for (_, p), (_, _, t) in zip(healthy.verified(), healthy.requests, strict=True)
    }
    assert max(delays.values()) < HEALTHY_MAX_DELAY, delays
    assert max(t for _, _, t in healthy.requests) < slow_since

    # the consumer did not stall: no rebalance, each event read and evaluated once, each
    # alert fired once and never replayed into dispatch
    assert w.metric("appwatch_rebalances_total") == rebalances
    assert w.metric("appwatch_events_total") == len(events)
    assert w.metric("appwatch_events_invalid_total") == 0
    evaluations = {rule: w.metric("appwatch_rule_evaluations_total", rule=rule) for rule in expected.evaluations}
    assert evaluations == dict(expected.evaluations) == {"download-spike": len(events)}
    assert w.metric("appwatch_rule_evaluations_total") == len(events)
    assert w.metric("appwatch_alerts_total", rule="download-spike") == len(want)
    assert w.metric("appwatch_alerts_deduplicated_total") == 0
    wait_until(lambda: w.metric("appwatch_consumer_lag") == 0, 30, "no consumer lag")
