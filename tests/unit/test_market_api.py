"""The market API (appwatch/worker/market_api.py) without a broker: the watched apps with
their daily downloads from the series state and their ranks over time from the chart state."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from prometheus_client import CollectorRegistry

from appwatch.worker.detect import Detect
from appwatch.worker.market_api import KEEP_RANKS, MarketApi
from core.auth import Tokens
from core.events import Topics
from streams import rewind
from streams.metrics import StreamMetrics
from streams.series import SeriesState
from streams.settings import Settings
from streams.windows import Daily

READ = "read-token-0123456789abcdef"
DAY = date(2024, 11, 14).toordinal()


def market(companies=None) -> tuple[MarketApi, Detect]:
    detect = Detect(Settings(), Topics("t."), StreamMetrics(CollectorRegistry()), rewind.Checks(), companies)
    api = MarketApi(Tokens(read=(READ,)), SimpleNamespace(detect=detect, worker="w1:6066"), clock=lambda: 1.0)
    api.control = {}
    return api, detect


def chart(apps: dict[str, list]) -> dict:
    return {"apps": apps, "snaps": []}


def test_watched_apps_with_daily_downloads_and_rank_history():
    api, detect = market({"doubao": "ByteDance", "kimi": "Moonshot AI"})
    short = Daily(days={DAY - 1: 800_000.0, DAY: 2_400_000.0})
    longer = Daily(days={DAY - 2: 790_000.0, DAY - 1: 800_000.0, DAY: 2_400_000.0})
    detect.stage.stage.state[0] = {
        "doubao|all|cn|downloads": SeriesState(rules={"a": short, "b": longer}),
        "doubao|all|cn|dau": SeriesState(rules={"c": Daily(days={DAY: 1.0})}),  # not downloads
        "other|ios|us|downloads": SeriesState(rules={"a": Daily(days={DAY: 5.0})}),
    }
    key = "rank-number-one|chart|ios|cn|top-free|all"
    api.control[key] = chart({"doubao": [100.0, 3]})
    api.control["news|seen"] = {"x": 1}  # not a chart
    api.sample()
    api.control[key] = chart({"doubao": [200.0, 1]})
    api.control["top10|chart|ios|cn|top-free|all"] = chart({"doubao": [200.0, 1]})  # same chart, other rule

    body = api.market(f"Bearer {READ}").body
    assert body["worker"] == "w1:6066"
    apps = {a["app_id"]: a for a in body["apps"]}
    assert [a["app_id"] for a in body["apps"]] == ["doubao", "kimi", "other"]
    doubao = apps["doubao"]
    assert (doubao["name"], doubao["company"], doubao["watched"]) == ("Doubao", "ByteDance", True)
    (series,) = doubao["downloads"]
    assert series["days"] == [["2024-11-12", 790_000.0], ["2024-11-13", 800_000.0], ["2024-11-14", 2_400_000.0]]
    assert (series["country"], series["worker"]) == ("cn", "w1:6066")
    (ranks,) = doubao["ranks"]
    assert ranks["points"] == [[100.0, 3], [200.0, 1]] and ranks["rank"] == 1 and ranks["chart"] == "top-free"
    assert apps["kimi"]["downloads"] == apps["kimi"]["ranks"] == []
    assert apps["other"]["watched"] is False


def test_rank_history_is_bounded_and_a_snapshot_is_kept_once():
    api, _ = market()
    key = "r|chart|ios|cn|top-free|all"
    for t in range(KEEP_RANKS + 10):
        api.control[key] = chart({"doubao": [float(t), 1 + t % 5]})
        api.sample()
        api.sample()
    (hist,) = api.ranks.values()
    assert len(hist) == KEEP_RANKS and hist[0][0] == 10.0


def test_market_needs_a_read_token():
    api, _ = market()
    assert api.market(None).status == 401
    assert api.market("Bearer nope").status == 401
