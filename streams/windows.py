"""Daily windows of one series, as a fold: ``Daily()`` -> ``add`` -> ``history``.

Days are ordinals (``date.toordinal()``) in the rule's time zone. ``add`` changes the
window in place and returns whether it took the value: the detect stage folds hundreds
of thousands of events a second into these, so nothing is copied per event. The window
also keeps the baseline it last computed (``base_for``/``base``): the trailing days of
the running day do not change while it runs, so the median is taken once per day, not
once per event, and taken again only when a late event changes one of those days.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec


class Daily(msgspec.Struct, array_like=True, tag=0):
    days: dict[int, float] = msgspec.field(default_factory=dict)  # day ordinal -> total
    fired: list[int] = msgspec.field(default_factory=list)  # days an alert fired for
    newest: int = 0  # the newest day folded in (0: none yet)
    base_for: int = 0  # the day ``base`` is the baseline of (0: none kept)
    base: tuple[float, float, float] | None = None  # (baseline, mean, sd); None: too little history
    widen: float = 1.0  # the band's widening on ``base_for`` (a special day: more than 1)
    marks: dict[int, float] = msgspec.field(default_factory=dict)  # special days' totals, kept a year
    effects: dict[int, float] = msgspec.field(default_factory=dict)  # special days' total / expected, a year


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
    days = w.days
    if days and w.newest - day > lateness_days:
        return False
    days[day] = days.get(day, 0.0) + value if mode == "delta" else value
    if day > w.newest:
        old, w.newest = w.newest, day
        cutoff = day - keep_days
        if day - old <= 2 and len(days) <= keep_days + 2:
            for d in range(old - keep_days, cutoff):  # the day or two that just fell out
                days.pop(d, None)
        else:  # a longer gap, the first day, or a rule that now keeps fewer days
            w.days = {d: v for d, v in days.items() if d >= cutoff}
        if w.fired:
            w.fired = [d for d in w.fired if d >= cutoff]
    elif w.base_for and day < w.base_for:
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
    w.marks = _for_a_year(w.marks, day, w.days[day])


def keep_effect(w: Daily, day: int, effect: float) -> None:
    """Keep a special day's effect (its total against the seasonal fit) for a year and a bit."""
    w.effects = _for_a_year(w.effects, day, effect)


def history(w: Daily, day: int, offsets: tuple[int, ...]) -> list[float]:
    """Totals of the days ``offsets`` before ``day`` that are present, in ``offsets``' order."""
    get = w.days.get
    return [v for k in offsets if (v := get(day - k)) is not None]
