"""``google_play``: installs -> downloads deltas and rating counts (injected fetch, and the
real library pointed at a fake details page on 127.0.0.1)."""

from __future__ import annotations

import json
import ssl
import threading

import pytest
from prometheus_client import CollectorRegistry

from connectors import google_play

pytestmark = pytest.mark.anyio

DOUBAO = "com.larus.nova"
TITLE = "豆包 - 字节跳动旗下 AI 智能助手"


def play_yaml(packages=(DOUBAO,), extra="") -> str:
    return f"""
connectors:
  - name: play
    kind: google_play
    params: {{packages: [{", ".join(packages)}]{extra}}}
"""


def details(package=DOUBAO, installs=163_456_789, ratings=1_234_567, title=TITLE) -> dict:
    """What ``google_play_scraper.app`` returns (trimmed: the real dict has ~50 keys)."""
    return {
        "title": title,
        "appId": package,
        "installs": "100,000,000+",
        "minInstalls": 100_000_000,
        "realInstalls": installs,
        "score": 4.71,
        "ratings": ratings,
        "reviews": 456_789,
        "developer": "Beijing Chuntian Zhiyun Technology Co., Ltd.",
        "genre": "Productivity",
        "free": True,
        "url": f"https://play.google.com/store/apps/details?id={package}",
    }


class Fetch:
    """An injected fetch: returns (or raises) the queued answers in turn; records calls."""

    def __init__(self, *answers) -> None:
        self.answers, self.calls = list(answers), []

    def __call__(self, package, lang, country):
        self.calls.append((package, lang, country))
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


def sample(registry, name, **labels) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_first_reading_then_delta_then_decrease(sink, registry, make_runner):
    fetch = Fetch(
        details(installs=163_000_000),
        details(installs=163_812_345),
        details(installs=163_800_000),
        details(installs=163_900_000, ratings=1_240_000),
    )
    async with make_runner(play_yaml(), sink) as r:
        r.connectors["play"].fetch = fetch
        [first] = await r.run_once()
        first_events = sink.take()
        [second] = await r.run_once()
        second_events = sink.take()
        [third] = await r.run_once()
        third_events = sink.take()
        [fourth] = await r.run_once()

    assert fetch.calls[0] == (DOUBAO, "en", "us")
    # first reading: nothing to diff; only the rating count
    assert first.outcome == "ok"
    assert [(e.metric, e.value, e.period) for e in first_events] == [("rating_count", 1_234_567, "instant")]
    # second: the rise since the first reading, added to the poll's day
    assert second.outcome == "ok" and second.duplicates == 1  # the same rating count today
    [dl] = second_events
    assert (dl.app_id, dl.app_name, dl.platform, dl.country) == ("doubao", TITLE, "android", "ww")
    assert (dl.metric, dl.value, dl.period, dl.mode) == ("downloads", 812_345, "day", "delta")
    assert dl.ts.timestamp() == pytest.approx(first_events[0].ts.timestamp())
    # third: a store correction downwards: nothing emitted, counted
    assert third.outcome == "partial" and third_events == []
    assert "went down from 163812345 to 163800000" in third.errors[0]
    assert sample(registry, "appwatch_connector_errors_total", connector="play", reason="installs_decreased") == 1
    # fourth: measured from the corrected baseline
    assert [(e.metric, e.value) for e in sink.events] == [("downloads", 100_000), ("rating_count", 1_240_000)]
    assert fourth.outcome == "ok"
    assert sample(registry, "appwatch_connector_events_total", connector="play") == 4


async def test_readings_survive_a_restart_without_duplicates(sink, tmp_path, make_runner):
    async with make_runner(play_yaml(), sink) as r:
        r.connectors["play"].fetch = Fetch(details(installs=1_000))
        await r.run_once()
    state = json.loads((tmp_path / "state" / "play.json").read_text())
    assert state["data"]["installs"] == {f"{DOUBAO}|us": {"value": 1_000, "at": "2024-11-26T04:40:00+00:00"}}

    async with make_runner(play_yaml(), sink, registry=CollectorRegistry()) as r2:
        r2.connectors["play"].fetch = Fetch(details(installs=1_000), details(installs=1_500))
        [same] = await r2.run_once()  # unchanged: nothing new
        [more] = await r2.run_once()
    assert (same.published, same.duplicates) == (0, 1)
    assert more.published == 1
    assert [(e.metric, e.value) for e in sink.events] == [("rating_count", 1_234_567), ("downloads", 500)]


async def test_one_failing_app_does_not_stop_the_others(sink, registry, make_runner):
    fetch = Fetch(
        OSError("connection reset"),
        details("com.moonshot.kimichat", title="Kimi智能助手"),
        RuntimeError("parser broke"),
        details("com.aliyun.tongyi", installs=None),
    )
    yaml_text = play_yaml((DOUBAO, "com.moonshot.kimichat", "com.openai.chatgpt", "com.aliyun.tongyi"))
    async with make_runner(yaml_text, sink) as r:
        r.connectors["play"].fetch = fetch
        [res] = await r.run_once()
    assert res.outcome == "partial"
    assert [(e.app_id, e.metric) for e in sink.events] == [("kimi", "rating_count")]
    for reason in ("connection", "fetch", "bad_payload"):
        assert sample(registry, "appwatch_connector_errors_total", connector="play", reason=reason) == 1
    assert any("realInstalls" in e and "com.aliyun.tongyi" in e for e in res.errors)


async def test_a_hanging_fetch_times_out(sink, registry, make_runner):
    release = threading.Event()

    def hang(package, lang, country):
        release.wait(10)
        return details()

    try:
        async with make_runner(play_yaml(extra=", timeout: 0.05"), sink) as r:
            r.connectors["play"].fetch = hang
            [res] = await r.run_once()
    finally:
        release.set()
    assert res.outcome == "error" and "no answer in 0.05s" in res.errors[0]
    assert sample(registry, "appwatch_connector_errors_total", connector="play", reason="timeout") == 1


def detail_page(installs: int, ratings: int, title: str = TITLE) -> str:
    """A minimal play.google.com details page: the ``ds:5`` data block the library reads."""
    d = [None] * 146
    d[0] = [title]  # [1][2][0][0]
    d[13] = ["100,000,000+", 100_000_000, installs, "100M+"]  # installs, minInstalls, realInstalls
    d[51] = [
        ["4.7", 4.7123],
        [None, [None, 1], [None, 2], [None, 3], [None, 4], [None, 5]],
        [None, ratings],
        [None, 456_789],
    ]  # score, histogram, ratings, reviews
    d[68] = ["Beijing Chuntian Zhiyun Technology Co., Ltd."]
    ds5 = json.dumps([None, [None, None, d]], ensure_ascii=False)
    return (
        '<!doctype html><html lang="zh-CN"><head><title>豆包 - Google Play 上的应用</title>'
        "<script nonce=\"n1\">AF_initDataCallback({key: 'ds:4', hash: '1', data:[[]], "
        "sideChannel: {}});</script>"
        f"<script nonce=\"n1\">AF_initDataCallback({{key: 'ds:5', hash: '7', data:{ds5}, "
        "sideChannel: {}});</script></head><body></body></html>"
    )


@pytest.fixture
def play_server(api, monkeypatch):
    """The real library, its details URL pointed at the fake API (TLS default left alone)."""
    monkeypatch.setattr(ssl, "_create_default_https_context", ssl._create_default_https_context)
    google_play._library()  # imports the library, undoing its TLS switch-off
    from google_play_scraper.constants.request import Formats

    base = api.url_for("/store/apps/details")
    monkeypatch.setattr(Formats.Detail, "URL_FORMAT", base + "?id={app_id}&hl={lang}&gl={country}")
    monkeypatch.setattr(Formats.Detail, "FALLBACK_URL_FORMAT", base + "?id={app_id}&hl={lang}")
    return api


async def test_the_library_against_a_local_details_page(play_server, sink, registry, make_runner):
    api = play_server
    q = {"id": DOUBAO, "hl": "zh", "gl": "cn"}
    for installs in (163_000_000, 163_800_000):
        api.expect_ordered_request("/store/apps/details", query_string=q).respond_with_data(
            detail_page(installs, 1_234_567), content_type="text/html; charset=utf-8"
        )
    async with make_runner(play_yaml(extra=", lang: zh, country: cn"), sink) as r:
        [first] = await r.run_once()
        [second] = await r.run_once()
    assert ssl._create_default_https_context is ssl.create_default_context  # TLS checks stay on
    assert (first.outcome, second.outcome) == ("ok", "ok") and len(api.log) == 2
    assert [(e.app_id, e.app_name, e.metric, e.value) for e in sink.events] == [
        ("doubao", TITLE, "rating_count", 1_234_567),
        ("doubao", TITLE, "downloads", 800_000),
    ]


async def test_the_library_on_a_missing_app(play_server, sink, registry, make_runner):
    api = play_server
    api.expect_request("/store/apps/details").respond_with_data("Not Found", status=404)
    async with make_runner(play_yaml(("com.example.gone",)), sink) as r:
        [res] = await r.run_once()
    assert res.outcome == "error" and "not found" in res.errors[0]
    assert len(api.log) == 2  # the library retries once without gl=
    assert "gl=" not in api.log[1][0].url
    assert sample(registry, "appwatch_connector_errors_total", connector="play", reason="http_404") == 1
