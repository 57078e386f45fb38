"""Fixtures for connector tests: a fake source API on 127.0.0.1, payloads, fakes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry
from pytest_httpserver import HTTPServer

from connectors import config
from connectors.runner import Runner

# the poll time of every test: 2024-11-26 04:40 UTC
NOW = datetime(2024, 11, 26, 4, 40, tzinfo=UTC).timestamp()
UPDATED = "Tue, 26 Nov 2024 04:33:35 +0000"  # how the real feed spells "updated"

# (id, name, artistName) as the App Store lists them
CN_TOP_FREE = [
    ("6459478672", "豆包 - 字节跳动旗下 AI 智能助手", "Beijing Chuntian Zhiyun Technology Co., Ltd."),
    ("6480446430", "腾讯元宝", "Tencent Technology (Shenzhen) Company Limited"),
    ("1044283059", "拼多多", "Shanghai Xunmeng Information Technology Co., Ltd."),
    ("6474233312", "Kimi智能助手", "Beijing Moonshot AI Technology Co., Ltd."),
    ("1142110895", "抖音", "Beijing Microlive Vision Technology Co., Ltd"),
    ("6466733523", "通义", "Alibaba Cloud Computing Ltd."),
    ("6446882473", "文小言", "Beijing Baidu Netcom Science Technology Co., Ltd."),
    ("599852710", "WPS Office", "Kingsoft Office Software Corporation Limited"),
]
CN_TOP_PAID = [
    ("1444383602", "Procreate Pocket", "Savage Interactive Pty Ltd"),
    ("6448311069", "ChatGPT", "OpenAI OpCo, LLC"),
]
US_TOP_FREE = [
    ("6448311069", "ChatGPT", "OpenAI OpCo, LLC"),
    ("6446901002", "Threads, an Instagram app", "Instagram, Inc."),
    ("1641486558", "Temu: Shop Like a Billionaire", "Temu"),
]


def apple_feed(country: str, chart: str, apps, updated: str = UPDATED) -> dict:
    """The shape of rss.applemarketingtools.com/api/v2/{country}/apps/{chart}/{n}/apps.json."""
    base = "https://rss.applemarketingtools.com/api/v2"
    return {
        "feed": {
            "title": "热门免费 App" if country == "cn" else "Top Free Apps",
            "id": f"{base}/{country}/apps/{chart}/{len(apps)}/apps.json",
            "author": {"name": "Apple", "url": "https://www.apple.com/"},
            "links": [{"self": f"{base}/{country}/apps/{chart}/{len(apps)}/apps.json"}],
            "copyright": "Copyright © 2024 Apple Inc. 保留所有权利。",
            "country": country,
            "icon": "https://www.apple.com/favicon.ico",
            "updated": updated,
            "results": [
                {
                    "artistName": artist,
                    "id": app_id,
                    "name": name,
                    "releaseDate": "2023-08-07",
                    "kind": "apps",
                    "artworkUrl100": f"https://is1-ssl.mzstatic.com/image/thumb/Purple/{app_id}/100x100bb.png",
                    "genres": [
                        {
                            "genreId": "6007",
                            "name": "效率" if country == "cn" else "Productivity",
                            "url": "https://itunes.apple.com/genre/id6007",
                        }
                    ],
                    "url": f"https://apps.apple.com/{country}/app/id{app_id}",
                }
                for app_id, name, artist in apps
            ],
        }
    }


def lookup_result(track_id: int, name: str, bundle: str, count: int | None, rating=4.8) -> dict:
    """One result of itunes.apple.com/lookup (trimmed: the real one has ~40 keys)."""
    r = {
        "wrapperType": "software",
        "kind": "software",
        "trackId": track_id,
        "trackName": name,
        "bundleId": bundle,
        "sellerName": "",
        "primaryGenreName": "Productivity",
        "price": 0.0,
        "currency": "CNY",
        "version": "7.2.0",
        "trackViewUrl": f"https://apps.apple.com/cn/app/id{track_id}",
    }
    if count is not None:
        r |= {"userRatingCount": count, "averageUserRating": rating, "userRatingCountForCurrentVersion": count // 10}
    return r


class Sink:
    """A publisher that collects events; ``fail`` makes flush raise."""

    def __init__(self) -> None:
        self.events: list = []
        self.flushes = 0
        self.fail: Exception | None = None

    def send(self, ev) -> None:
        self.events.append(ev)

    def flush(self) -> None:
        self.flushes += 1
        if self.fail:
            raise self.fail

    def take(self) -> list:
        out, self.events = self.events, []
        return out


class Sleeps:
    """The injected sleep: records each delay, returns at once; optionally sets a stop event."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.stop_after: tuple[int, asyncio.Event] | None = None

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.stop_after and len(self.calls) >= self.stop_after[0]:
            self.stop_after[1].set()
        await asyncio.sleep(0)


@pytest.fixture(scope="session")
def _api_server():
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def api(_api_server):
    """The fake source API (pytest-httpserver on 127.0.0.1), cleared after each test."""
    yield _api_server
    _api_server.clear()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def sink() -> Sink:
    return Sink()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # async tests run with @pytest.mark.anyio (anyio ships with httpx)


@pytest.fixture
def make_runner(tmp_path, registry, sleeps):
    """make_runner(yaml_text, publisher, **kw) -> Runner on tmp_path/state, clock NOW, fake sleep.

    Use it as ``async with make_runner(...) as r:`` so its HTTP client closes in the test's loop.
    """

    def make(yaml_text: str, publisher, **kw) -> Runner:
        kw.setdefault("state_dir", tmp_path / "state")
        kw.setdefault("registry", registry)
        kw.setdefault("clock", lambda: NOW)
        kw.setdefault("sleep", sleeps)
        return Runner(config.parse(yaml_text, "test.yaml", kw.get("kinds")), publisher, **kw)

    return make


@pytest.fixture
def data() -> SimpleNamespace:
    return SimpleNamespace(
        NOW=NOW,
        UPDATED=UPDATED,
        CN_TOP_FREE=CN_TOP_FREE,
        CN_TOP_PAID=CN_TOP_PAID,
        US_TOP_FREE=US_TOP_FREE,
        apple_feed=apple_feed,
        lookup_result=lookup_result,
    )
