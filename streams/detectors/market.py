"""Market-wide moves, as a fold over the apps' days. Pure: no Faust, no Kafka.

A spike rule with ``market:`` judges each app against its own baseline as usual; its
apps' days then meet here, per (rule, market, platform, metric), as counts: ``init`` ->
``add`` (so many more apps reported a day, and the app that moved, O(1)) -> ``ready`` (as
many apps reported the day as the day before, a later day has begun, or ``wait`` passed)
-> ``moved`` (O(1)): did the market move as one? -> ``verdict`` (on such a day): one alert
speaks for the market, and an app alerts on its own only when it moved ``beyond`` times
the market's median move.
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
    market's other apps to report the day."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    share: Annotated[float, Field(gt=0, le=1)] = 0.6
    min_apps: Annotated[int, Field(ge=2)] = 3
    beyond: Annotated[float, Field(ge=1.0)] = 1.5
    wait: Annotated[float, Field(ge=0, le=86400)] = 600.0


# a moved app's day: [ratio to its own baseline, value, baseline]
Report = list
KEEP_DAYS = 2  # days a market keeps behind its newest (a day is judged beside the day before)


def init() -> dict:
    return {"newest": 0, "days": {}}


def add(s: dict, day: int, count: int, at: float, mover: tuple[str, Report] | None = None) -> dict | None:
    """Fold into ``s`` (in place, O(1)) that ``count`` more apps reported ``day``, and the
    app that moved, if any; returns the day's entry, or None for a day more than
    ``KEEP_DAYS`` behind the market's newest (forgotten: it is judged alone)."""
    if day < s["newest"] - KEEP_DAYS:
        return None
    days = s["days"]
    d = days.get(day)
    if d is None:
        d = days[day] = {"n": 0, "movers": {}, "first": at}
    d["n"] += count
    if mover is not None:
        d["movers"][mover[0]] = mover[1]
    if day > s["newest"]:
        s["newest"] = day
        for k in [k for k in days if k < day - KEEP_DAYS]:
            del days[k]
    return d


def members(s: dict, day: int) -> int:
    """The market's apps on ``day``: as many as reported it or the day before."""
    before, d = s["days"].get(day - 1), s["days"].get(day)
    return max(before["n"] if before else 0, d["n"] if d else 0)


def ready(s: dict, day: int, first: float, p: MarketParams, now: float) -> bool:
    """Whether ``day`` can be judged: as many apps reported it as the day before, or a
    later day has begun in the market, or ``wait`` has passed since ``first``."""
    d = s["days"].get(day)
    return s["newest"] > day or (d is not None and d["n"] >= members(s, day)) or now - first >= p.wait


def moved(s: dict, day: int, p: MarketParams) -> bool:
    """Whether the market moved as one on ``day``. O(1)."""
    d, n = s["days"].get(day), members(s, day)
    return d is not None and n >= p.min_apps and len(d["movers"]) >= p.share * n


@dataclass(frozen=True)
class Verdict:
    movers: dict[str, float]  # app -> its ratio, for the apps that moved
    apps: int  # the market's apps that day
    median: float  # the median ratio of the movers
    value: float  # the movers' total
    baseline: float  # their baselines' total


def verdict(s: dict, day: int) -> Verdict:
    """The market's move on a day it moved (``moved``)."""
    got = s["days"][day]["movers"]
    movers = {a: got[a][0] for a in sorted(got)}  # sorted: the same sums in any order
    value = sum(got[a][1] for a in movers)
    base = sum(got[a][2] for a in movers)
    return Verdict(movers, members(s, day), statistics.median(movers.values()), value, base)


def stands_out(ratio: float, v: Verdict, p: MarketParams) -> bool:
    """Whether an app's move is its own on a day its market moved."""
    return ratio >= p.beyond * v.median
