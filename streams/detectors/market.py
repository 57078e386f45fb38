"""Market-wide moves, as a fold over the apps' days. Pure: no Faust, no Kafka.

A spike rule with ``market:`` judges each app against its own baseline as usual; its
apps' days then meet here, per (rule, market, platform, metric). ``init`` -> ``add`` (one
app's day so far, O(1)) -> ``ready`` (every app of the day before has reported this one,
a later day has begun, or ``wait`` passed) -> ``moved`` (O(1)): did the market move as
one? -> ``verdict`` (on such a day): one alert speaks for the market, and an app alerts on
its own only when it moved ``beyond`` times the market's median move.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class MarketParams(BaseModel):
    """``share``: the part of the market's apps that must have moved (reached their own
    band) for a market move; ``min_apps``: a market of fewer apps never moves as one;
    ``beyond``: an app alerts on its own, on a market's day, at ``beyond`` times the
    market's median move; ``wait``: seconds an app's alert waits, at most, for the
    market's other apps to report the day; ``recent_days``: the days a market keeps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    share: Annotated[float, Field(gt=0, le=1)] = 0.6
    min_apps: Annotated[int, Field(ge=2)] = 3
    beyond: Annotated[float, Field(ge=1.0)] = 1.5
    wait: Annotated[float, Field(ge=0, le=86400)] = 600.0
    recent_days: Annotated[int, Field(ge=1, le=60)] = 14


# one app's day: [ratio to its own baseline (None: no baseline yet), moved (reached its
# band), value, baseline]
Report = list


def init() -> dict:
    return {"newest": 0, "days": {}}


def add(s: dict, app: str, day: int, report: Report, at: float, recent_days: int) -> dict | None:
    """Fold one app's day so far into ``s`` (in place, O(1)); returns the day's entry, or
    None for a day more than ``recent_days`` behind the market's newest (forgotten: it is
    judged alone). An entry counts the apps that moved and the apps of the day before
    still ``missing``: the members are the apps that report the day or the day before."""
    if day < s["newest"] - recent_days:
        return None
    days = s["days"]
    prev, d = days.get(day - 1), days.get(day)
    if d is None:
        d = days[day] = {"apps": {}, "movers": 0, "missing": len(prev["apps"]) if prev else 0, "first": at}
    old = d["apps"].get(app)
    if old is not None and old[1] and not report[1]:
        return d  # an app that moved stays moved for the day (a report again, after a restart)
    if old is None and prev is not None and app in prev["apps"]:
        d["missing"] -= 1
    d["movers"] += bool(report[1]) - bool(old is not None and old[1])
    d["apps"][app] = report
    if day > s["newest"]:
        s["newest"] = day
        for k in [k for k in days if k < day - recent_days]:
            del days[k]
    return d


def members(d: dict) -> int:
    return len(d["apps"]) + d["missing"]


def ready(s: dict, day: int, first: float, p: MarketParams, now: float) -> bool:
    """Whether ``day`` can be judged: every app of the day before reported it, or a later
    day has begun in the market, or ``wait`` has passed since ``first`` (its first report)."""
    d = s["days"].get(day)
    return s["newest"] > day or (d is not None and d["missing"] <= 0) or now - first >= p.wait


def moved(d: dict, p: MarketParams) -> bool:
    """Whether the market moved as one on the day of ``d``. O(1)."""
    n = members(d)
    return n >= p.min_apps and d["movers"] >= p.share * n


@dataclass(frozen=True)
class Verdict:
    movers: dict[str, float]  # app -> its ratio, for the apps that moved
    apps: int  # the market's apps that day
    median: float  # the median ratio of the movers
    value: float  # the movers' total
    baseline: float  # their baselines' total


def verdict(d: dict) -> Verdict:
    """The market's move on a day it moved (``moved``): O(apps), once or twice a day."""
    apps = d["apps"]
    movers = {a: apps[a][0] for a in sorted(apps) if apps[a][1]}  # sorted: the same sums in any order
    value = sum(apps[a][2] for a in movers)
    base = sum(apps[a][3] for a in movers)
    return Verdict(movers, members(d), statistics.median(movers.values()), value, base)


def stands_out(ratio: float, v: Verdict, p: MarketParams) -> bool:
    """Whether an app's move is its own on a day its market moved."""
    return ratio >= p.beyond * v.median
