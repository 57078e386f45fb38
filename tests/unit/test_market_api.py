"""The market API (appwatch/worker/market_api.py) without a broker: the watched apps with
their daily downloads from the series state and their ranks over time from the ranks topic."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import orjson
from prometheus_client import CollectorRegistry

from appwatch.worker.detect import Detect
from appwatch.worker.market_api import KEEP_RANKS, MarketApi
from core.auth import Tokens
from core.events import Topics
from streams import rewind, windows
from streams.metrics import StreamMetrics
from streams.series import SeriesState
from streams.settings import Settings

READ = "read-token-0123456789abcdef"
DAY = date(2024, 11, 14).toordinal()


def market(companies=None) -> tuple[MarketApi, Detect]:
    detect = Detect(Settings(), Topics("t."), StreamMetrics(CollectorRegistry()), rewind.Checks(), companies)
    api = MarketApi(Tokens(read=(READ,)), SimpleNamespace(detect=detect, worker="w1:6066"), clock=lambda: 1.0)
    return api, detect


def rank(app_id: str, t: float, rank: int, **kw) -> bytes:
    ev = {
        "event_id": f"r:{app_id}:{t}:{kw}",
        "type": "app.rank",
        "source": "t",
        "ts": datetime.fromtimestamp(t, UTC).isoformat(),
        "app_id": app_id,
        "platform": "ios",
        "country": "cn",
        "chart": "top-free",
        "rank": rank,
        **kw,
    }
    return orjson.dumps(ev)


def test_watched_apps_with_daily_downloads_and_rank_history():
    api, detect = market({"doubao": "ByteDance", "kimi": "Moonshot AI"})
    short = windows.of({DAY - 1: 800_000.0, DAY: 2_400_000.0})
    longer = windows.of({DAY - 2: 790_000.0, DAY - 1: 800_000.0, DAY: 2_400_000.0})
    detect.stage.stage.state[0] = {
        "doubao|all|cn|downloads": SeriesState(rules={"a": short, "b": longer}),
        "doubao|all|cn|dau": SeriesState(rules={"c": windows.of({DAY: 1.0})}),  # not downloads
        "other|ios|us|downloads": SeriesState(rules={"a": windows.of({DAY: 5.0})}),
    }
    for i, (t, r) in enumerate([(100.0, 3), (200.0, 2), (150.0, 9), (200.0, 1)]):  # an older one, a correction
        api.apply(b"doubao|cn", rank("doubao", t, r), i)
    api.apply(b"doubao|cn", rank("doubao", 300.0, 4, chart="top-paid"), 4)
    api.apply(b"yuanbao|cn", rank("yuanbao", 300.0, 4), 5)  # not watched: not kept
    api.apply(b"x", b"{not json", 6)
    api.apply(b"x", rank("doubao", 400.0, 0), 7)  # invalid: rank 0

    body = api.market(f"Bearer {READ}").body
    assert body["worker"] == "w1:6066"
    apps = {a["app_id"]: a for a in body["apps"]}
    assert [a["app_id"] for a in body["apps"]] == ["doubao", "kimi", "other"]
    doubao = apps["doubao"]
    assert (doubao["name"], doubao["company"], doubao["watched"]) == ("Doubao", "ByteDance", True)
    (series,) = doubao["downloads"]
    assert series["days"] == [["2024-11-12", 790_000.0], ["2024-11-13", 800_000.0], ["2024-11-14", 2_400_000.0]]
    assert (series["country"], series["worker"]) == ("cn", "w1:6066")
    free, paid = doubao["ranks"]
    assert free["points"] == [[100.0, 3], [200.0, 1]] and free["rank"] == 1 and free["chart"] == "top-free"
    assert paid["points"] == [[300.0, 4]] and free["worker"] == "w1:6066"
    assert apps["kimi"]["downloads"] == apps["kimi"]["ranks"] == []
    assert apps["other"]["watched"] is False


def test_rank_history_is_bounded():
    api, _ = market()
    for t in range(KEEP_RANKS + 10):
        api.apply(b"k", rank("doubao", 1_700_000_000.0 + t, 1 + t % 5), t)
    (hist,) = api.ranks.values()
    assert len(hist) == KEEP_RANKS and hist[0][0] == 1_700_000_010.0


def test_market_needs_a_read_token():
    api, _ = market()
    assert api.market(None).status == 401
    assert api.market("Bearer nope").status == 401


def test_one_market_at_a_time():
    api, detect = market({"doubao": "ByteDance", "chatgpt": "OpenAI"})
    detect.stage.stage.state[0] = {
        "doubao|all|cn|downloads": SeriesState(rules={"a": windows.of({DAY: 2.0})}),
        "chatgpt|all|us|downloads": SeriesState(rules={"a": windows.of({DAY: 3.0})}),
        "chatgpt|all|cn|downloads": SeriesState(rules={"a": windows.of({DAY: 1.0})}),
    }
    api.apply(b"chatgpt|jp", rank("chatgpt", 100.0, 2, country="jp"), 0)
    every = api.market(f"Bearer {READ}").body
    assert every["countries"] == ["cn", "jp", "us"]
    us = api.market(f"Bearer {READ}", "us").body
    assert us["countries"] == ["cn", "jp", "us"]  # every market, to choose from
    apps = {a["app_id"]: a for a in us["apps"]}
    assert [s["country"] for s in apps["chatgpt"]["downloads"]] == ["us"] and apps["chatgpt"]["ranks"] == []
    assert apps["doubao"]["downloads"] == []  # watched, with nothing in this market
    jp = {a["app_id"]: a for a in api.market(f"Bearer {READ}", "jp").body["apps"]}
    assert [r["country"] for r in jp["chatgpt"]["ranks"]] == ["jp"] and jp["chatgpt"]["downloads"] == []
    bad = api.market(f"Bearer {READ}", "USA")
    assert bad.status == 400 and "country" in bad.body["error"]
