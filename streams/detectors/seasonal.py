"""A robust seasonal baseline for the spike rule's ``baseline: seasonal``. Pure: no Faust,
no Kafka; fitted once per series per day, when the day is first judged.

The fit takes the ordinary days of a series' recent history (its market's special days
left out) and finds, robustly (medians, no means):

- a factor per weekday: that weekday's median over the whole history's median;
- the level: the median of the last ``LEVEL_DAYS`` days, each divided by its weekday factor;
- the band: ``mads`` robust standard deviations (1.4826 x the MAD of the log residuals).

The day's expected total is the level times its weekday's factor; the band's upper edge is
``band`` times that.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

LEVEL_DAYS = 14
MIN_DAYS = 14  # fewer ordinary days than this: no fit (the rule uses the trailing median)


@dataclass(frozen=True)
class Fit:
    expected: float  # the judged day's expected total
    band: float  # the band's upper edge, as a multiple of ``expected`` (at least 1)
    sigma: float  # the robust standard deviation of the log residuals


def fit(history: Sequence[tuple[int, float]], day: int, mads: float) -> Fit | None:
    """``history``: (day ordinal, total) of the ordinary days before ``day``, oldest first."""
    days = [(d, v) for d, v in history if v > 0]
    if len(days) < MIN_DAYS:
        return None
    overall = median(v for _, v in days)
    by_weekday: dict[int, list[float]] = {}
    for d, v in days:
        by_weekday.setdefault(d % 7, []).append(v)
    factor = {w: median(vs) / overall for w, vs in by_weekday.items()}
    level = median(v / factor[d % 7] for d, v in days[-LEVEL_DAYS:])
    logs = [math.log(v / factor[d % 7] / level) for d, v in days]
    centre = median(logs)
    sigma = 1.4826 * median(abs(x - centre) for x in logs)
    return Fit(expected=level * factor.get(day % 7, 1.0), band=math.exp(mads * sigma), sigma=sigma)
