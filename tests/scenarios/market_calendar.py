"""A generated two-year scenario of daily downloads with the markets' calendars in it.

Six Chinese and four US apps, 2024-01-01 to 2025-12-31, after six weeks of warm-up (from
2023-11-20), one event a day per app: the day's total at 21:00 local time in the app's
market. In it:

- weekly seasonality: weekends at 1.25-1.3x, two CN apps at 2.1x;
- CN public holidays (the Spring Festival, Qingming, Labor Day, Dragon Boat, Mid-Autumn,
  National Day) at 2x, and 618 and Singles' Day at 1.8x;
- US holidays (New Year, Memorial Day, July 4, Labor Day, Thanksgiving, Christmas) at
  1.7x, Black Friday at 2x, Cyber Monday at 1.8x;
- one market-wide lift: every CN app at 2.4x on 2025-03-20;
- seven true app spikes at 3x (``SPIKES``), two of them in the US, and one on the
  market-wide day (DeepSeek at 3x on top of its market's 2.4x).

The holiday dates are written out here by hand, not taken from the calendar under test.
Noise is +/- 5 %, from a seeded generator: the scenario is the same on every run.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

START, FIRST, LAST = date(2023, 11, 20), date(2024, 1, 1), date(2025, 12, 31)
ZONES = {"cn": ZoneInfo("Asia/Shanghai"), "us": ZoneInfo("America/New_York")}

# app -> (market, weekday level, weekend factor)
APPS = {
    "doubao": ("cn", 800_000, 2.1),
    "yuanbao": ("cn", 120_000, 2.1),
    "kimi": ("cn", 300_000, 1.3),
    "tongyi": ("cn", 150_000, 1.3),
    "wenxiaoyan": ("cn", 60_000, 1.3),
    "deepseek": ("cn", 400_000, 1.3),
    "chatgpt": ("us", 900_000, 1.25),
    "claude": ("us", 120_000, 1.25),
    "gemini": ("us", 200_000, 1.25),
    "perplexity": ("us", 60_000, 1.25),
}


def _span(first: str, last: str) -> list[date]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return [a + timedelta(days=k) for k in range((b - a).days + 1)]


CN_HOLIDAYS = {
    d: 2.0
    for span in (
        ("2024-01-01", "2024-01-01"),
        ("2024-02-10", "2024-02-17"),  # Spring Festival
        ("2024-04-04", "2024-04-06"),  # Qingming
        ("2024-05-01", "2024-05-05"),  # Labor Day
        ("2024-06-10", "2024-06-10"),  # Dragon Boat
        ("2024-09-15", "2024-09-17"),  # Mid-Autumn
        ("2024-10-01", "2024-10-07"),  # National Day
        ("2025-01-01", "2025-01-01"),
        ("2025-01-28", "2025-02-04"),
        ("2025-04-04", "2025-04-06"),
        ("2025-05-01", "2025-05-05"),
        ("2025-05-31", "2025-06-02"),
        ("2025-10-01", "2025-10-08"),
    )
    for d in _span(*span)
} | {date(y, m, d): 1.8 for y in (2024, 2025) for m, d in ((6, 18), (11, 11))}  # 618, Singles' Day

US_HOLIDAYS = {
    date.fromisoformat(d): f
    for d, f in {
        "2023-11-23": 1.7, "2023-11-24": 2.0, "2023-11-27": 1.8, "2023-12-25": 1.7,
        "2024-01-01": 1.7, "2024-05-27": 1.7, "2024-07-04": 1.7, "2024-09-02": 1.7,
        "2024-11-28": 1.7, "2024-11-29": 2.0, "2024-12-02": 1.8, "2024-12-25": 1.7,
        "2025-01-01": 1.7, "2025-05-26": 1.7, "2025-07-04": 1.7, "2025-09-01": 1.7,
        "2025-11-27": 1.7, "2025-11-28": 2.0, "2025-12-01": 1.8, "2025-12-25": 1.7,
    }.items()
}  # fmt: skip
HOLIDAYS = {"cn": CN_HOLIDAYS, "us": US_HOLIDAYS}

MARKET_DAY = ("cn", date(2025, 3, 20))  # every CN app at 2.4x
SPIKES = {  # (app, the market's own day): the true spikes, 3x
    ("doubao", date(2024, 3, 13)),
    ("kimi", date(2024, 8, 21)),
    ("yuanbao", date(2024, 7, 13)),  # a Saturday: 3x its Saturdays
    ("tongyi", date(2025, 4, 16)),
    ("chatgpt", date(2024, 5, 14)),
    ("claude", date(2025, 6, 10)),
    ("deepseek", date(2025, 3, 20)),  # the market-wide day: 3x on top of its market's 2.4x
}


def factor(app: str, day: date) -> float:
    market, _, weekend = APPS[app]
    f = weekend if day.weekday() >= 5 else 1.0
    f *= HOLIDAYS[market].get(day, 1.0)
    if (market, day) == MARKET_DAY:
        f *= 2.4
    if (app, day) in SPIKES:
        f *= 3.0
    return f


def events() -> list[dict]:
    """The scenario's events (contract ``app.metric``), in time order."""
    rng = random.Random(20240101)
    out = []
    day = START
    while day <= LAST:
        for app, (market, level, _) in APPS.items():
            value = level * (1 + 0.0004 * (day - START).days) * factor(app, day) * rng.uniform(0.95, 1.05)
            ts = datetime.combine(day, time(21), ZONES[market])
            out.append(
                dict(
                    event_id=f"scenario:{app}:{day}",
                    type="app.metric",
                    source="scenario",
                    ts=ts.isoformat(),
                    app_id=app,
                    platform="all",
                    country=market,
                    metric="downloads",
                    value=round(value),
                    period="day",
                )
            )
        day += timedelta(days=1)
    out.sort(key=lambda e: datetime.fromisoformat(e["ts"]))
    return out


def kind_of_day(app: str, day: date) -> str:
    """What an alert on ``day`` for ``app`` would be: a true spike, or a false one on a
    holiday, the market-wide day, a weekend, or an ordinary day."""
    market = APPS[app][0]
    if (app, day) in SPIKES:
        return "true spike"
    if day in HOLIDAYS[market]:
        return "holiday"
    if (market, day) == MARKET_DAY:
        return "market-wide day"
    if day.weekday() >= 5:
        return "weekend"
    return "other day"
