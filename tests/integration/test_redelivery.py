"""Kafka is at least once: an event published twice must change nothing in the worker."""

from __future__ import annotations

import pytest

from connectors import demo as scenario
from connectors.publish import Publisher
from tests.conftest import wait_until
from tests.integration.test_pipeline import downloads, history

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def signed(start_worker, topics, hooks):
    return start_worker(topics, APPWATCH_WEBHOOK_URL=hooks.url, APPWATCH_WEBHOOK_SECRET=hooks.secret)


def rules_of(hooks) -> list[str]:
    return sorted({msg_id: p["data"]["rule"] for msg_id, p in hooks.verified()}.values())


def test_a_spike_published_twice_fires_once(broker, topics, hooks, start_worker):
    w = signed(start_worker, topics, hooks)
    story = [*history("doubao", range(1, 8), 500_000), downloads("doubao", 8, 1_500_000)]
    with Publisher(broker, topics) as pub:
        pub.send_all(story)
        pub.send_all(story)
        pub.flush()
    wait_until(lambda: w.metric("appwatch_events_total") == 2 * len(story), 30, "both copies consumed")
    hooks.wait(lambda r: len(r) >= 1, 30, "the spike")
    # every repeat was refused: a duplicate, or (older than the late-data horizon) too late
    repeats = w.metric("appwatch_events_duplicate_total") + w.metric("appwatch_events_too_late_total")
    assert repeats == len(story) and w.metric("appwatch_events_duplicate_total") >= 1
    assert w.metric("appwatch_alerts_total", rule="download-spike") == 1
    assert len(hooks.requests) == 1


def test_one_days_deltas_published_twice_fire_no_false_spike(broker, topics, hooks, start_worker):
    w = signed(start_worker, topics, hooks)
    deltas = [downloads("kimi", 8, 50_000, mode="delta", hour=h) for h in range(0, 24, 3)]  # 400k: a normal day
    with Publisher(broker, topics) as pub:
        pub.send_all(history("kimi", range(1, 8), 400_000))
        pub.send_all(deltas)
        pub.send_all(deltas)  # counted again, day 8 would be 800k: 2x the baseline
        # then a real spike on day 10, after the repeats in the same partition: once it
        # arrives, a false day-8 spike would have arrived before it
        pub.send_all([downloads("kimi", 9, 400_000), downloads("kimi", 10, 1_800_000)])  # 4.5x: Singles' Day is near
        pub.flush()
    hooks.wait(lambda r: len(r) >= 1, 30, "the day-10 spike")
    assert w.metric("appwatch_events_duplicate_total") == len(deltas)
    ((_, payload),) = hooks.verified()
    assert payload["data"]["window_start"] == "2024-11-10T00:00:00+08:00"
    assert w.metric("appwatch_alerts_total", rule="download-spike") == 1


@pytest.mark.timeout(240)
def test_the_seed_story_published_twice_fires_its_seven_alerts_once(broker, topics, hooks, start_worker):
    w = signed(start_worker, topics, hooks)
    story = [*scenario.history(), *scenario.live()]
    with Publisher(broker, topics) as pub:
        pub.send_all(story)
        pub.send_all(story)
        pub.flush()
    wait_until(lambda: w.metric("appwatch_events_total") == 2 * len(story), 60, "both copies consumed")
    hooks.wait(lambda r: len(r) >= 7, 60, "the seven alerts of the story")
    assert rules_of(hooks) == sorted(
        [
            "talent-move",
            "talent-move",
            "user-milestone",
            "download-spike",
            "download-spike",
            "rank-number-one",
            "org-change",
        ]
    )
    assert w.metric("appwatch_alerts_total") == 7  # the story's alerts, each produced once
    assert len(hooks.requests) == 7
    # correlation on the control path: the 14 Nov spike carries the hiring story of the week before
    spike = next(p["data"] for _, p in hooks.verified() if p["data"]["window_start"].startswith("2024-11-14"))
    assert [c["title"] for c in spike["context"]] == ["ByteDance hires core tech lead of Alibaba's Tongyi Qianwen"]
