"""The seed scenario: the Chinese AI-app race of late 2024, as contract events.

About 60 days of daily download totals for Doubao, Kimi, Tongyi, Wenxiaoyan and
ChatGPT (Doubao around 800k a day, with a spike on 2024-11-14), then a "live"
day of per-half-hour delta events in which Doubao surges again, plus ranks,
user counts, the hiring/dispute/reorg news of the story, and a few malformed
events so that the DLQ is visible. Deterministic: the same seed gives the same
events and ids.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

import orjson

from core.events import AppMetric, AppRank, Event, News, event_id, validate

SOURCE = "demo"
CST = timezone(timedelta(hours=8))
FIRST_DAY = date(2024, 10, 1)
HISTORY_DAYS = 60  # 2024-10-01 .. 2024-11-29
LIVE_DAY = FIRST_DAY + timedelta(days=HISTORY_DAYS)  # 2024-11-30
SPIKE_DAY = date(2024, 11, 14)
LIVE_STEPS = 48  # half-hour deltas


@dataclass(frozen=True)
class App:
    app_id: str
    name: str
    country: str
    daily: float  # typical daily downloads at the start
    growth: float  # per day, relative
    noise: float  # relative


APPS = (
    App("doubao", "Doubao 豆包", "cn", 760_000, 0.001, 0.06),
    App("kimi", "Kimi 智能助手", "cn", 280_000, 0.0, 0.05),
    App("tongyi", "Tongyi 通义", "cn", 120_000, 0.001, 0.07),
    App("wenxiaoyan", "Wenxiaoyan 文小言", "cn", 150_000, -0.001, 0.06),
    App("chatgpt", "ChatGPT", "us", 900_000, 0.0005, 0.05),
)


def _ts(day: date, hour: float = 0.0) -> str:
    return (datetime.combine(day, time(0), CST) + timedelta(hours=hour)).isoformat()


def _metric(
    app: App,
    day: date,
    metric: str,
    value: float,
    *,
    mode: str = "total",
    period: str = "day",
    hour: float = 0.0,
    part: object = "",
) -> AppMetric:
    return validate(
        dict(
            event_id=event_id(SOURCE, app.app_id, app.country, metric, day, mode, part),
            type="app.metric",
            source=SOURCE,
            ts=_ts(day, hour),
            app_id=app.app_id,
            app_name=app.name,
            platform="all",
            country=app.country,
            metric=metric,
            value=round(value),
            period=period,
            mode=mode,
        )
    )


def daily_downloads(app: App, day: date, rng: random.Random) -> float:
    n = (day - FIRST_DAY).days
    value = app.daily * (1 + app.growth) ** n * (1 + rng.uniform(-app.noise, app.noise))
    if app.app_id == "doubao" and day == SPIKE_DAY:
        value *= 3.0  # the viral week of the Tongyi hiring news
    return value


def history(seed: int = 7) -> Iterator[Event]:
    """Daily totals (mode=total) for every app, day by day, plus ranks and users."""
    rng = random.Random(seed)
    users = 130_000_000.0
    for n in range(HISTORY_DAYS):
        day = FIRST_DAY + timedelta(days=n)
        for app in APPS:
            value = daily_downloads(app, day, rng)
            yield _metric(app, day, "downloads", value)
            if app.app_id == "doubao":
                users += value * 0.6
                yield _metric(app, day, "cumulative_users", users, period="instant")
        yield from _ranks(day)
        yield from (item for d, item in NEWS if d == day)


def live(seed: int = 7) -> Iterator[AppMetric]:
    """The live day as half-hour delta events; Doubao surges past 2x its baseline."""
    rng = random.Random(seed + 1)
    for step in range(LIVE_STEPS):
        hour = step * 24 / LIVE_STEPS
        for app in APPS:
            per_step = app.daily / LIVE_STEPS * (1 + rng.uniform(-app.noise, app.noise))
            if app.app_id == "doubao":
                per_step *= 2.6  # the #1 chart position brings a new wave
            yield _metric(app, LIVE_DAY, "downloads", per_step, mode="delta", hour=hour, part=step)


def _ranks(day: date) -> Iterator[AppRank]:
    n = (day - FIRST_DAY).days
    doubao = max(1, 6 - n // 9)  # climbs to #1 in November
    ranks = {
        "doubao": doubao,
        "kimi": 9 if n < 30 else 12,
        "tongyi": 24 - n // 10,
        "wenxiaoyan": 15,
        "yuanbao": 40 - n // 3,
    }
    names = {a.app_id: a.name for a in APPS} | {"yuanbao": "Yuanbao 元宝"}
    for app_id, rank in ranks.items():
        yield validate(
            dict(
                event_id=event_id(SOURCE, "rank", app_id, day),
                type="app.rank",
                source=SOURCE,
                ts=_ts(day, 9),
                app_id=app_id,
                app_name=names[app_id],
                platform="ios",
                country="cn",
                chart="top-free",
                category="all",
                rank=rank,
            )
        )


def _news(day: date, url: str, title: str, lang: str, **extra) -> tuple[date, News]:
    return day, validate(
        dict(
            event_id=event_id(SOURCE, "news", url),
            type="news",
            source=SOURCE,
            ts=_ts(day, 10),
            url=url,
            title=title,
            lang=lang,
            **extra,
        )
    )


NEWS = (
    _news(
        date(2024, 10, 10), "https://example.com/news/kimi-mau", "Kimi reaches 38 million monthly active users", "en"
    ),
    _news(
        date(2024, 11, 8),
        "https://example.com/news/tongyi-lead-bytedance",
        "ByteDance hires core tech lead of Alibaba's Tongyi Qianwen",
        "en",
    ),
    _news(
        date(2024, 11, 13),
        "https://example.com/news/zhuo-chang-dispute",
        "前通义千问工程师卓畅陷竞业纠纷，阿里申请仲裁",
        "zh",
    ),
    _news(date(2024, 11, 21), "https://example.com/news/tongyi-reorg", "通义App从阿里云并入阿里智能信息事业群", "zh"),
)


def malformed() -> list[tuple[str, bytes]]:
    """(topic suffix, raw payload) pairs that the worker must send to the DLQ."""
    good = dict(
        event_id="demo:bad",
        type="app.metric",
        source=SOURCE,
        ts=_ts(LIVE_DAY),
        app_id="kimi",
        platform="all",
        country="cn",
        metric="downloads",
        value=1,
        period="day",
    )
    return [
        ("events.metrics", b'{"event_id": "demo:bad-json", "type": "app.metric",'),
        ("events.metrics", orjson.dumps({**good, "event_id": "demo:neg", "value": -5})),
        ("events.metrics", orjson.dumps({k: v for k, v in good.items() if k != "app_id"})),
        ("events.ranks", orjson.dumps({**good, "event_id": "demo:type", "type": "app.chart"})),
        ("events.news", b"\xff\xfe not utf-8"),
    ]


def events(seed: int = 7) -> Iterator[Event]:
    yield from history(seed)
    yield from live(seed)
