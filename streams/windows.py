"""Daily windows of one series, as a fold: ``Daily()`` -> ``add`` -> ``history``.

Days are ordinals (``date.toordinal()``) in the rule's time zone. A window is a compact
array: ``totals[i]`` is the total of day ``start + i`` (None: no event that day), the
newest day last. ``add`` changes the window in place and returns whether it took the
value: the detect stage folds hundreds of thousands of events a second into these, so
nothing is copied per event, and a window is written to the changelog as one list. The
window also keeps the baseline it last computed (``base_for``/``base``): the trailing days
of the running day do not change while it runs, so the median is taken once per day, not
once per event, and taken again only when a late event changes one of those days.

History is bounded: ``keep_days`` (the rule's lookback and lateness) of totals, plus, for a
year and a bit (``MARKS_DAYS``), the totals and effects of the market's special days, the
only older days a rule reads (``holidays: last_year``, the seasonal fit's holiday effects).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec


class Daily(msgspec.Struct, array_like=True, tag=3):
    start: int = 0  # the day ordinal of ``totals[0]``
    totals: list[float | None] = msgspec.field(default_factory=list)  # a total a day from ``start``
    fired: list[int] = msgspec.field(default_factory=list)  # days an alert fired for
    newest: int = 0  # the newest day folded in (0: none yet); ``start + len(totals) - 1``
    base_for: int = 0  # the day ``base`` is the baseline of (0: none kept)
    base: tuple[float, float, float] | None = None  # (baseline, mean, sd); None: too little history
    widen: float = 1.0  # the band's widening on ``base_for`` (a special day: more than 1)
    marks: dict[int, float] = msgspec.field(default_factory=dict)  # special days' totals, kept a year
    effects: dict[int, float] = msgspec.field(default_factory=dict)  # special days' total / expected, a year


class DailyV0(msgspec.Struct, array_like=True, tag=0):
    """The window as changelogs before the compact array hold it (a dict of days); read
    only, and turned into a ``Daily`` as it is restored (``upgrade``)."""

    days: dict[int, float] = msgspec.field(default_factory=dict)
    fired: list[int] = msgspec.field(default_factory=list)
    newest: int = 0
    base_for: int = 0
    base: tuple[float, float, float] | None = None
    widen: float = 1.0
    marks: dict[int, float] = msgspec.field(default_factory=dict)
    effects: dict[int, float] = msgspec.field(default_factory=dict)


def upgrade(old: DailyV0) -> Daily:
    w = of(old.days)
    w.fired, w.base_for, w.base, w.widen = old.fired, old.base_for, old.base, old.widen
    w.marks, w.effects = old.marks, old.effects
    return w


def of(days: dict[int, float]) -> Daily:
    """A window holding ``days`` (day ordinal -> total)."""
    if not days:
        return Daily()
    start, newest = min(days), max(days)
    return Daily(start=start, totals=[days.get(d) for d in range(start, newest + 1)], newest=newest)


def total(w: Daily, day: int) -> float | None:
    """The total of ``day``; None when the window has no event of it."""
    i = day - w.start
    return w.totals[i] if 0 <= i < len(w.totals) else None


def items(w: Daily) -> Iterator[tuple[int, float]]:
    """(day, total) of the days the window holds, oldest first."""
    start = w.start
    return ((start + i, v) for i, v in enumerate(w.totals) if v is not None)


def days(w: Daily) -> dict[int, float]:
    return dict(items(w))


_days: dict[tuple[datetime, ZoneInfo], int] = {}
MEMO = 65_536  # instants the day memo keeps (then it starts again)


def day_of(ts: datetime, tz: ZoneInfo) -> int:
    """The ordinal of ``ts``'s day in ``tz``; memoised (events share their timestamps)."""
    got = _days.get((ts, tz))
    if got is None:
        if len(_days) >= MEMO:
            _days.clear()
        got = _days[ts, tz] = ts.astimezone(tz).toordinal()
    return got


def bounds(day: int, tz: ZoneInfo) -> tuple[str, str]:
    d = date.fromordinal(day)
    start = datetime.combine(d, time(0), tz)
    end = datetime.combine(d + timedelta(days=1), time(0), tz)
    return start.isoformat(), end.isoformat()


def add(w: Daily, day: int, value: float, mode: str, keep_days: int, lateness_days: int) -> bool:
    """Fold one observation into its day; False (and nothing changed) if the day is more
    than ``lateness_days`` behind the newest. Days more than ``keep_days`` behind the
    newest are dropped.

    ``mode="total"``: the value is the day's total and the last one wins.
    ``mode="delta"``: the value is added to the day's running total.
    """
    totals = w.totals
    if not totals:
        w.start = w.newest = day
        w.totals = [value]
        return True
    i = day - w.start
    if i >= len(totals):  # a new newest day
        gap = i - len(totals)
        if gap >= keep_days:  # nothing of the window stays
            w.totals, w.start = [value], day
        else:
            totals.extend([None] * gap)
            totals.append(value)
            drop = day - keep_days - w.start
            if drop > 0:
                del totals[:drop]
                w.start += drop
        w.newest = day
        if w.fired:
            w.fired = [d for d in w.fired if d >= w.start]
        return True
    if w.newest - day > lateness_days:
        return False
    if i < 0:  # older than the window's first day (a young series)
        totals[:0] = [value] + [None] * (-i - 1)
        w.start = day
    else:
        old = totals[i]
        totals[i] = old + value if mode == "delta" and old is not None else value
    if w.base_for and day < w.base_for:
        w.base_for = 0  # a late event changed a day some baseline may be made of
    return True


MARKS_DAYS = 400  # how long a special day's total is kept (for the same day next year)


def _for_a_year(kept: dict[int, float], day: int, value: float) -> dict[int, float]:
    """``kept`` with ``day``'s ``value``, less the days more than ``MARKS_DAYS`` before it."""
    kept[day] = value
    if len(kept) > 1 and min(kept) < day - MARKS_DAYS:
        return {d: v for d, v in kept.items() if d >= day - MARKS_DAYS}
    return kept


def mark(w: Daily, day: int) -> None:
    """Keep ``day``'s total past the window, for judging the same special day next year."""
    w.marks = _for_a_year(w.marks, day, total(w, day))


def keep_effect(w: Daily, day: int, effect: float) -> None:
    """Keep a special day's effect (its total against the seasonal fit) for a year and a bit."""
    w.effects = _for_a_year(w.effects, day, effect)


def history(w: Daily, day: int, offsets: tuple[int, ...]) -> list[float]:
    """Totals of the days ``offsets`` before ``day`` that are present, in ``offsets``' order."""
    totals, at = w.totals, day - w.start
    n = len(totals)
    return [v for k in offsets if 0 <= at - k < n and (v := totals[at - k]) is not None]
