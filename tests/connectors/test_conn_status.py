"""The runner writes one status record per instance per poll to the compacted
``connectors.status`` topic (read back from the embedded broker); a status that cannot be
written never fails the poll."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket

import orjson
import pytest
from kafka import KafkaConsumer

from connectors.publish import Publisher

pytestmark = pytest.mark.integration

FIELDS = {
    "name",
    "kind",
    "outcome",
    "last_fetch",
    "last_ok",
    "last_error",
    "published",
    "duplicates",
    "next_run",
    "host",
    "pid",
}


def yaml(api) -> str:
    return f"""
connectors:
  - name: apple
    kind: apple_charts
    interval: 15m
    jitter: 0.1
    params: {{base_url: "{api.url_for("/api/v2")}", countries: [cn], charts: [top-free], limit: 25}}
  - name: broken
    kind: apple_charts
    params: {{base_url: "{api.url_for("/gone")}", countries: [cn], charts: [top-free], limit: 25}}
"""


def serve(api, data) -> None:
    api.expect_request("/api/v2/cn/apps/top-free/25/apps.json").respond_with_json(
        data.apple_feed("cn", "top-free", data.CN_TOP_FREE)
    )
    api.expect_request("/gone/cn/apps/top-free/25/apps.json").respond_with_data("gone", status=404)


def statuses(broker: str, topic: str, n: int) -> list[tuple[str, dict]]:
    """The first ``n`` records of the status topic, in order: (key, value)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest", consumer_timeout_ms=15_000)
    got = []
    try:
        for msg in consumer:  # ends after 15 s without a record; normally at n
            got.append((msg.key.decode(), orjson.loads(msg.value)))
            if len(got) == n:
                break
    finally:
        consumer.close()
    assert len(got) == n, f"{len(got)} of {n} status records arrived: {got}"
    return got


def test_once_one_status_per_instance(broker, topics, api, data, make_runner):
    serve(api, data)
    clock = itertools.count(data.NOW, 1.0)

    async def once():
        async with make_runner(yaml(api), pub, clock=lambda: next(clock)) as r:
            return await r.run_once()

    with Publisher(broker, topics) as pub:
        results = asyncio.run(once())
    assert [(r.name, r.outcome) for r in results] == [("apple", "ok"), ("broken", "error")]

    got = dict(statuses(broker, topics.connectors_status, 2))
    assert set(got) == {"apple", "broken"}
    apple, broken = got["apple"], got["broken"]
    assert set(apple) == set(broken) == FIELDS
    assert apple["last_fetch"] >= data.NOW and apple["last_ok"] == apple["last_fetch"]
    assert {k: apple[k] for k in FIELDS - {"last_fetch", "last_ok"}} == {
        "name": "apple",
        "kind": "apple_charts",
        "outcome": "ok",
        "last_error": None,
        "published": 8,
        "duplicates": 0,
        "next_run": None,  # --once
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }
    assert (broken["outcome"], broken["published"], broken["last_ok"], broken["next_run"]) == ("error", 0, None, None)
    assert broken["last_error"] and "404" in broken["last_error"], broken


def test_forever_a_status_after_every_poll_with_the_next_run(broker, topics, api, data, make_runner, sleeps):
    serve(api, data)
    stop = asyncio.Event()
    sleeps.stop_after = (4, stop)  # two polls of each instance
    clock = itertools.count(data.NOW, 10.0)

    async def forever():
        async with make_runner(yaml(api), pub, clock=lambda: next(clock), rng=lambda: 0.5) as r:
            await r.run_forever(stop)

    with Publisher(broker, topics) as pub:
        asyncio.run(forever())

    got = statuses(broker, topics.connectors_status, 4)
    apple = [v for k, v in got if k == "apple"]
    broken = [v for k, v in got if k == "broken"]
    assert [(s["outcome"], s["published"], s["duplicates"]) for s in apple] == [("ok", 8, 0), ("ok", 0, 8)]
    assert [s["outcome"] for s in broken] == ["error", "error"]
    for s in apple:  # rng 0.5: no jitter, the next run is one interval after the report
        assert s["next_run"] - s["last_fetch"] == pytest.approx(900, abs=60), s
        assert s["last_ok"] == s["last_fetch"]
    assert apple[1]["last_fetch"] > apple[0]["last_fetch"]
    assert all(s["last_ok"] is None and s["next_run"] > s["last_fetch"] for s in broken)


class NoStatus:
    """A publisher whose events go through and whose status records fail."""

    def __init__(self, topics) -> None:
        self.topics, self.events = topics, []

    def send(self, ev) -> None:
        self.events.append(ev)

    def flush(self) -> None:
        pass

    def send_raw(self, topic, value, key=None):
        raise RuntimeError("the status topic is gone")


@pytest.mark.anyio
async def test_a_status_that_cannot_be_written_does_not_fail_the_poll(api, data, make_runner, caplog):
    from core.events import Topics

    serve(api, data)
    pub = NoStatus(Topics("t."))
    with caplog.at_level(logging.WARNING, "connectors.runner"):
        async with make_runner(yaml(api), pub) as r:
            results = await r.run_once()
    assert [(r.name, r.outcome, r.published) for r in results] == [("apple", "ok", 8), ("broken", "error", 0)]
    assert len(pub.events) == 8
    assert "connector apple: writing its status failed" in caplog.text
    assert "the status topic is gone" in caplog.text
