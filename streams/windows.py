"""Daily windows of one series, as a pure fold: ``init`` -> ``add`` -> ``history``.

The state is a JSON-able dict so that it can live in a Faust table as is:
``{"days": {"2024-11-14": 812345.0, ...}, "fired": ["2024-11-14"]}``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def init() -> dict:
    return {"days": {}, "fired": []}


def day_of(ts: datetime, tz: ZoneInfo) -> date:
    return ts.astimezone(tz).date()


def bounds(day: date, tz: ZoneInfo) -> tuple[str, str]:
    start = datetime.combine(day, time(0), tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tz)
    return start.isoformat(), end.isoformat()


def add(state: dict, day: date, value: float, mode: str, keep_days: int,
        lateness_days: int | None = None) -> dict | None:
    """Fold one observation into its day; None if it is more than ``lateness_days``
    (default ``keep_days``) behind the newest day. Days older than ``keep_days`` go.

    ``mode="total"``: the value is the day's total and the last one wins.
    ``mode="delta"``: the value is added to the day's running total.
    """
    days = dict(state["days"])
    newest = max(map(date.fromisoformat, days), default=day)
    if (newest - day).days > (keep_days if lateness_days is None else lateness_days):
        return None
    key = day.isoformat()
    days[key] = days.get(key, 0.0) + value if mode == "delta" else value
    newest = max(newest, day)
    cutoff = (newest - timedelta(days=keep_days)).isoformat()
    days = {d: v for d, v in days.items() if d >= cutoff}
    fired = [d for d in state["fired"] if d >= cutoff]
    return {"days": days, "fired": fired}


def history(state: dict, day: date, n: int) -> list[float]:
    """Totals of the ``n`` days before ``day`` that are present, oldest first."""
    days = state["days"]
    out = []
    for back in range(n, 0, -1):
        v = days.get((day - timedelta(days=back)).isoformat())
        if v is not None:
            out.append(v)
    return out


def mark_fired(state: dict, day: date) -> dict:
    return {"days": state["days"], "fired": [*state["fired"], day.isoformat()]}


def has_fired(state: dict, day: date) -> bool:
    return day.isoformat() in state["fired"]
