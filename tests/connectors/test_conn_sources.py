"""The runner with the two sources against a fake API on 127.0.0.1 (pytest-httpserver)."""

from __future__ import annotations

import asyncio
import json

import pytest
from prometheus_client import CollectorRegistry

from appwatch.broker import free_port
from connectors.base import Connector, Params
from connectors.registry import KINDS
from core.events import AppMetric, AppRank, event_id

pytestmark = pytest.mark.anyio

CHART_PATH = "/api/v2/{country}/apps/{chart}/{n}/apps.json"


def charts_yaml(api, countries=("cn",), charts=("top-free",), limit=10, name="apple", base: str | None = None) -> str:
    return f"""
connectors:
  - name: {name}
    kind: apple_charts
    interval: 1h
    params:
      base_url: {base or api.url_for("/api/v2")}
      countries: [{", ".join(countries)}]
      charts: [{", ".join(charts)}]
      limit: {limit}
"""


def path(country="cn", chart="top-free", n=10) -> str:
    return CHART_PATH.format(country=country, chart=chart, n=n)


def sample(registry, name, **labels) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_apple_charts_maps_ranks(api, data, sink, registry, make_runner):
    api.expect_request(path()).respond_with_json(data.apple_feed("cn", "top-free", data.CN_TOP_FREE))
    async with make_runner(charts_yaml(api), sink) as r:
        [res] = await r.run_once()

    assert (res.outcome, res.published, res.errors) == ("ok", 8, [])
    evs = sink.events
    assert all(isinstance(e, AppRank) for e in evs) and sink.flushes == 1
    assert [(e.app_id, e.rank) for e in evs] == [
        ("doubao", 1),
        ("yuanbao", 2),
        ("ios-1044283059", 3),
        ("kimi", 4),
        ("ios-1142110895", 5),
        ("tongyi", 6),
        ("wenxiaoyan", 7),
        ("wps-office", 8),
    ]
    first = evs[0]
    assert first.app_name == "豆包 - 字节跳动旗下 AI 智能助手"
    assert (first.source, first.platform, first.country, first.chart, first.category) == (
        "apple_charts",
        "ios",
        "cn",
        "top-free",
        "all",
    )
    assert first.ts.isoformat() == "2024-11-26T04:33:35+00:00"  # the feed's "updated"
    assert first.key == "doubao|cn"
    assert first.event_id == event_id("apple_charts", "top-free", "cn", "2024-11-26T04:33:35+00:00", "6459478672")
    assert len({e.event_id for e in evs}) == 8
    assert sample(registry, "appwatch_connector_polls_total", connector="apple", outcome="ok") == 1
    assert sample(registry, "appwatch_connector_events_total", connector="apple") == 8
    assert sample(registry, "appwatch_connector_last_success_timestamp_seconds", connector="apple") == data.NOW


async def test_feed_without_updated_uses_the_poll_day(api, data, sink, make_runner):
    feed = data.apple_feed("us", "top-free", data.US_TOP_FREE)
    del feed["feed"]["updated"]
    api.expect_request(path("us")).respond_with_json(feed)
    async with make_runner(charts_yaml(api, countries=("us",)), sink) as r:
        await r.run_once()
    chatgpt = sink.events[0]
    assert (chatgpt.app_id, chatgpt.rank, chatgpt.ts.timestamp()) == ("chatgpt", 1, data.NOW)
    assert chatgpt.event_id == event_id("apple_charts", "top-free", "us", "2024-11-26", "6448311069")
    assert [e.app_id for e in sink.events][1:] == ["threads-an-instagram-app", "temu-shop-like-a-billionaire"]


async def test_etag_304_emits_nothing(api, data, sink, registry, make_runner):
    api.expect_request(path(), headers={"If-None-Match": '"v1"'}).respond_with_data(status=304)
    api.expect_request(path()).respond_with_json(
        data.apple_feed("cn", "top-free", data.CN_TOP_FREE),
        headers={"ETag": '"v1"', "Last-Modified": "Tue, 26 Nov 2024 04:33:35 GMT"},
    )
    async with make_runner(charts_yaml(api), sink) as r:
        [first] = await r.run_once()
        [second] = await r.run_once()

    assert (first.published, second.published, second.outcome) == (8, 0, "ok")
    assert second.duplicates == 0  # nothing came back at all: 304
    (req1, _), (req2, resp2) = api.log
    assert "If-None-Match" not in req1.headers
    assert req2.headers["If-None-Match"] == '"v1"'
    assert req2.headers["If-Modified-Since"] == "Tue, 26 Nov 2024 04:33:35 GMT"
    assert resp2.status_code == 304
    assert sample(registry, "appwatch_connector_polls_total", connector="apple", outcome="ok") == 2
    assert sample(registry, "appwatch_connector_events_total", connector="apple") == 8


async def test_429_retry_after_is_honoured(api, data, sink, sleeps, registry, make_runner):
    api.expect_ordered_request(path()).respond_with_data("slow down", status=429, headers={"Retry-After": "7"})
    api.expect_ordered_request(path()).respond_with_json(data.apple_feed("cn", "top-free", data.CN_TOP_FREE))
    async with make_runner(charts_yaml(api), sink) as r:
        [res] = await r.run_once()
    assert sleeps.calls == [7.0]
    assert (res.outcome, res.published) == ("ok", 8)
    assert sample(registry, "appwatch_connector_errors_total", connector="apple", reason="rate_limited") == 0


async def test_500_then_success(api, data, sink, sleeps, make_runner):
    api.expect_ordered_request(path()).respond_with_data("oops", status=500)
    api.expect_ordered_request(path()).respond_with_data("oops", status=502)
    api.expect_ordered_request(path()).respond_with_json(data.apple_feed("cn", "top-free", data.CN_TOP_FREE))
    async with make_runner(charts_yaml(api), sink) as r:
        [res] = await r.run_once()
    assert sleeps.calls == [0.5, 1.0]  # exponential backoff
    assert (res.outcome, res.published) == ("ok", 8)
    assert len(api.log) == 3


async def test_500_forever_is_a_counted_error(api, sink, sleeps, registry, make_runner):
    api.expect_request(path()).respond_with_data("down", status=503)
    async with make_runner(charts_yaml(api), sink) as r:
        [res] = await r.run_once()
    assert res.outcome == "error" and sink.events == []
    assert sleeps.calls == [0.5, 1.0, 2.0, 4.0]
    assert "HTTP 503" in res.errors[0] and path() in res.errors[0]
    assert sample(registry, "appwatch_connector_errors_total", connector="apple", reason="http_503") == 1
    assert (
        registry.get_sample_value("appwatch_connector_last_success_timestamp_seconds", {"connector": "apple"}) is None
    )


async def test_connection_refused_is_retried_then_counted(sink, sleeps, registry, make_runner):
    yaml_text = charts_yaml(None, base=f"http://127.0.0.1:{free_port()}/api/v2")  # nobody listens
    async with make_runner(yaml_text, sink) as r:
        [res] = await r.run_once()
    assert res.outcome == "error" and len(sleeps.calls) == 4
    assert sample(registry, "appwatch_connector_errors_total", connector="apple", reason="connection") == 1


async def test_malformed_json_is_counted_and_the_rest_is_published(api, data, sink, registry, make_runner):
    good = data.apple_feed("cn", "top-free", data.CN_TOP_FREE)
    api.expect_ordered_request(path()).respond_with_json(good, headers={"ETag": '"a"'})
    api.expect_ordered_request(path(chart="top-paid")).respond_with_data(
        '{"feed": {"results": [', content_type="application/json", headers={"ETag": '"bad"'}
    )
    api.expect_ordered_request(path(), headers={"If-None-Match": '"a"'}).respond_with_data(status=304)
    api.expect_ordered_request(path(chart="top-paid")).respond_with_json(
        data.apple_feed("cn", "top-paid", data.CN_TOP_PAID)
    )

    async with make_runner(charts_yaml(api, charts=("top-free", "top-paid")), sink) as r:
        [bad] = await r.run_once()
        published_first = sink.take()
        [good_poll] = await r.run_once()

    assert bad.outcome == "partial" and bad.published == 8
    assert {e.chart for e in published_first} == {"top-free"}
    assert "malformed JSON" in bad.errors[0] and path(chart="top-paid") in bad.errors[0]
    assert sample(registry, "appwatch_connector_errors_total", connector="apple", reason="bad_json") == 1
    # the next poll works, and the bad response's ETag was not remembered
    assert api.log[3][0].headers.get("If-None-Match") is None
    assert good_poll.outcome == "ok"
    assert [(e.chart, e.app_id, e.rank) for e in sink.events] == [
        ("top-paid", "procreate-pocket", 1),
        ("top-paid", "chatgpt", 2),
    ]
    assert sample(registry, "appwatch_connector_polls_total", connector="apple", outcome="partial") == 1
    assert sample(registry, "appwatch_connector_polls_total", connector="apple", outcome="ok") == 1


async def test_wrong_shape_and_bad_items(api, data, sink, registry, make_runner):
    feed = data.apple_feed("cn", "top-free", data.CN_TOP_FREE[:3])
    del feed["feed"]["results"][1]["id"]  # one item without an id: skipped, ranks keep positions
    api.expect_request(path()).respond_with_json(feed)
    api.expect_request(path("us")).respond_with_json({"error": "no such chart"})
    async with make_runner(charts_yaml(api, countries=("cn", "us")), sink) as r:
        [res] = await r.run_once()
    assert res.outcome == "partial"
    assert [(e.app_id, e.rank) for e in sink.events] == [("doubao", 1), ("ios-1044283059", 3)]
    assert sample(registry, "appwatch_connector_errors_total", connector="apple", reason="bad_item") == 1
    assert sample(registry, "appwatch_connector_errors_total", connector="apple", reason="bad_payload") == 1
    assert any("results[1]" in e for e in res.errors)


async def test_restart_from_checkpoint_emits_no_duplicates(api, data, tmp_path, make_runner):
    # no ETag: the source sends the full chart every time; the ids dedupe it
    api.expect_request(path()).respond_with_json(data.apple_feed("cn", "top-free", data.CN_TOP_FREE))
    first, second = [], []

    class Collect:
        def __init__(self, into):
            self.send, self.flush = into.append, lambda: None

    async with make_runner(charts_yaml(api), Collect(first)) as r:
        await r.run_once()
    state = tmp_path / "state"
    cp = json.loads((state / "apple.json").read_text())
    assert set(cp["seen"]) == {e.event_id for e in first}
    assert sorted(p.name for p in state.iterdir()) == ["apple.json"]  # no temp files left

    registry2 = CollectorRegistry()  # a new process
    async with make_runner(charts_yaml(api), Collect(second), registry=registry2) as r2:
        [res] = await r2.run_once()
    assert (res.outcome, res.published, res.duplicates, second) == ("ok", 0, 8, [])
    assert registry2.get_sample_value("appwatch_connector_duplicates_total", {"connector": "apple"}) == 8

    # a new chart snapshot ("updated" moved) is new facts
    api.clear()
    api.expect_request(path()).respond_with_json(
        data.apple_feed("cn", "top-free", data.CN_TOP_FREE, updated="Tue, 26 Nov 2024 05:33:35 +0000")
    )
    async with make_runner(charts_yaml(api), Collect(second), registry=CollectorRegistry()) as r3:
        [res] = await r3.run_once()
    assert res.published == 8 and not {e.event_id for e in first} & {e.event_id for e in second}


async def test_seen_ids_are_bounded(api, data, sink, tmp_path, make_runner):
    api.expect_request(path()).respond_with_json(data.apple_feed("cn", "top-free", data.CN_TOP_FREE))
    async with make_runner(charts_yaml(api), sink, seen_limit=5) as r:
        await r.run_once()
    cp = json.loads((tmp_path / "state" / "apple.json").read_text())
    assert cp["seen"] == [e.event_id for e in sink.events][-5:]


async def test_publish_failure_does_not_advance_the_checkpoint(api, data, sink, registry, make_runner):
    api.expect_request(path()).respond_with_json(
        data.apple_feed("cn", "top-free", data.CN_TOP_FREE), headers={"ETag": '"v1"'}
    )
    sink.fail = RuntimeError("broker down")
    async with make_runner(charts_yaml(api), sink) as r:
        [res] = await r.run_once()
        assert res.outcome == "error" and "broker down" in res.errors[0]
        assert sample(registry, "appwatch_connector_errors_total", connector="apple", reason="publish") == 1
        sink.fail, lost = None, sink.take()
        [res] = await r.run_once()
    # fetched again in full (no If-None-Match) and published again, same ids
    assert api.log[1][0].headers.get("If-None-Match") is None
    assert res.published == 8 and [e.event_id for e in sink.events] == [e.event_id for e in lost]


async def test_itunes_lookup_rating_counts(api, data, sink, registry, make_runner):
    lookup = {
        "resultCount": 3,
        "results": [
            data.lookup_result(6459478672, "豆包 - 字节跳动旗下 AI 智能助手", "com.bot.neotix.doubao", 1_283_441),
            data.lookup_result(6480446430, "腾讯元宝", "com.tencent.hunyuan", 402_118),
            data.lookup_result(1142110895, "抖音", "com.ss.iphone.ugc.Aweme", 9_120_334),
            data.lookup_result(6474233312, "Kimi智能助手", "com.moonshot.kimichat", None),  # no ratings
        ],
    }
    api.expect_request(
        "/lookup", query_string={"id": "1142110895,6459478672,6480446430,6474233312", "country": "cn"}
    ).respond_with_json(lookup)
    yaml_text = f"""
connectors:
  - name: ratings
    kind: itunes_lookup
    params:
      base_url: {api.url_for("/")}
      ids: [1142110895]
      apps: [doubao, yuanbao, kimi]
"""
    async with make_runner(yaml_text, sink) as r:
        [res] = await r.run_once()
        assert (res.outcome, res.published) == ("ok", 3)
        [again] = await r.run_once()  # same counts, same day: nothing new
        assert (again.published, again.duplicates) == (0, 3)

    evs = sink.events
    assert all(isinstance(e, AppMetric) for e in evs)
    assert [(e.app_id, e.value) for e in evs] == [
        ("doubao", 1_283_441),
        ("yuanbao", 402_118),
        ("ios-1142110895", 9_120_334),
    ]
    doubao = evs[0]
    assert (doubao.metric, doubao.period, doubao.platform, doubao.country, doubao.mode) == (
        "rating_count",
        "instant",
        "ios",
        "cn",
        "total",
    )
    assert doubao.app_name == "豆包 - 字节跳动旗下 AI 智能助手" and doubao.ts.timestamp() == data.NOW
    assert sample(registry, "appwatch_connector_events_total", connector="ratings") == 3


async def test_itunes_lookup_batches_ids(api, data, sink, make_runner):
    api.expect_request("/lookup", query_string={"id": "1,2", "country": "us"}).respond_with_json(
        {"resultCount": 1, "results": [data.lookup_result(1, "One", "a.one", 10)]}
    )
    api.expect_request("/lookup", query_string={"id": "3", "country": "us"}).respond_with_json(
        {"resultCount": 1, "results": [data.lookup_result(3, "Three", "a.three", 30)]}
    )
    yaml_text = f"""
connectors:
  - {{name: l, kind: itunes_lookup, params: {{base_url: "{api.url_for("")}", ids: [1, 2, 3],
      countries: [US], batch: 2}}}}
"""
    async with make_runner(yaml_text, sink) as r:
        [res] = await r.run_once()
    assert res.outcome == "ok"
    assert [(e.app_id, e.country, e.value) for e in sink.events] == [("one", "us", 10), ("three", "us", 30)]


class Broken(Connector):
    kind = "broken"
    Params = Params

    async def poll(self, ctx):
        raise RuntimeError("bug in a connector")


async def test_a_crashing_connector_does_not_stop_the_others(api, data, sink, registry, make_runner):
    api.expect_request(path()).respond_with_json(data.apple_feed("cn", "top-free", data.CN_TOP_FREE))
    yaml_text = charts_yaml(api) + "  - {name: b, kind: broken}\n"
    async with make_runner(yaml_text, sink, kinds={**KINDS, "broken": Broken}) as r:
        results = {res.name: res for res in await r.run_once()}
    assert results["b"].outcome == "error" and "bug in a connector" in results["b"].errors[0]
    assert results["apple"].published == 8
    assert sample(registry, "appwatch_connector_errors_total", connector="b", reason="crash") == 1


async def test_daemon_polls_every_interval_with_jitter(api, data, sink, sleeps, registry, make_runner):
    api.expect_request(path(), headers={"If-None-Match": '"v1"'}).respond_with_data(status=304)
    api.expect_request(path()).respond_with_json(
        data.apple_feed("cn", "top-free", data.CN_TOP_FREE), headers={"ETag": '"v1"'}
    )
    stop = asyncio.Event()
    sleeps.stop_after = (3, stop)
    rolls = iter([1.0, 0.0, 0.5])  # rng: +jitter, -jitter, none
    async with make_runner(charts_yaml(api), sink, rng=lambda: next(rolls)) as r:
        await asyncio.wait_for(r.run_forever(stop), timeout=10)
    assert sleeps.calls == pytest.approx([3960.0, 3240.0, 3600.0])  # 1h +/- 10%
    assert sample(registry, "appwatch_connector_polls_total", connector="apple", outcome="ok") == 3
    assert len(sink.events) == 8 and len(api.log) == 3


async def test_daemon_stops_while_waiting(api, data, sink, registry, make_runner):
    api.expect_request(path()).respond_with_json(data.apple_feed("cn", "top-free", data.CN_TOP_FREE))
    stop = asyncio.Event()
    async with make_runner(charts_yaml(api), sink, sleep=asyncio.sleep) as r:  # a real 1h sleep
        task = asyncio.create_task(r.run_forever(stop))
        deadline = asyncio.get_running_loop().time() + 10
        while not sink.events:
            assert asyncio.get_running_loop().time() < deadline, "no first poll"
            await asyncio.sleep(0.01)
        stop.set()
        await asyncio.wait_for(task, timeout=5)
    assert len(sink.events) == 8


class ReturnsDicts(Connector):
    kind = "dicts"
    Params = Params

    async def poll(self, ctx):
        good = dict(
            event_id="dicts:1",
            type="app.rank",
            ts="2024-11-26T00:00:00+08:00",
            app_id="doubao",
            platform="ios",
            country="cn",
            chart="top-free",
            rank=1,
        )
        return [dict(good, source="dicts"), dict(good, source="dicts", event_id="dicts:2", rank=0)]


async def test_invalid_events_from_a_connector_are_counted(sink, registry, make_runner):
    yaml_text = "connectors:\n  - {name: d, kind: dicts}\n"
    async with make_runner(yaml_text, sink, kinds={"dicts": ReturnsDicts}) as r:
        [res] = await r.run_once()
    assert [e.event_id for e in sink.events] == ["dicts:1"]
    assert res.outcome == "partial" and "rank: Input should be greater than or equal to 1" in res.errors[0]
    assert sample(registry, "appwatch_connector_errors_total", connector="d", reason="invalid_event") == 1
