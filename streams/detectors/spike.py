"""Spike detection against a trailing baseline. Pure: no Faust, no Kafka."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from streams.detectors import market as market_
from streams.detectors import seasonal


class SpikeParams(BaseModel):
    """``baseline``: what a day is judged against. ``median``/``mean`` of the previous
    ``baseline_days`` days, or ``weekday``: the median of the same weekday in the previous
    ``weeks`` weeks (a Saturday against Saturdays, so weekends are no spikes); or
    ``seasonal``: weekday factors and a level fitted on the last ``weeks`` weeks' ordinary
    days, with a band of ``band_mads`` robust standard deviations (``detectors.seasonal``).
    Until a series has the days, the median of the previous ``baseline_days`` days.

    ``holidays``: on a market's special day (``core.calendar``, within ``holiday_around``
    days), ``widen`` multiplies ``ratio`` and ``zscore`` by ``holiday_widen``; ``last_year``
    judges the day against the same special day last year (widening when there is none).

    ``market``: judge the app's day beside its market's other apps (``detectors.market``):
    when most of them move together, one alert for the market, not one per app."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ratio: Annotated[float, Field(gt=1.0)] | None = 2.0
    zscore: Annotated[float, Field(gt=0)] | None = None
    baseline_days: Annotated[int, Field(ge=1, le=90)] = 7
    weeks: Annotated[int, Field(ge=1, le=57)] = 4  # 57: a year and a bit, 400 days
    min_history: Annotated[int, Field(ge=1)] | None = None  # None: 5, or every day when fewer
    min_baseline: Annotated[float, Field(gt=0)] = 1000.0
    baseline: Literal["median", "mean", "weekday", "seasonal"] = "median"
    band_mads: Annotated[float, Field(gt=0, le=20)] = 4.0
    allowed_lateness_days: Annotated[int, Field(ge=0, le=30)] = 2
    holidays: Literal["ignore", "widen", "last_year"] = "ignore"
    holiday_widen: Annotated[float, Field(gt=1.0, le=20.0)] = 2.0
    holiday_around: Annotated[int, Field(ge=0, le=7)] = 1
    market: market_.MarketParams | None = None

    @model_validator(mode="after")
    def _history_fits(self) -> SpikeParams:
        if self.ratio is None and self.zscore is None:
            raise ValueError("give ratio and/or zscore")
        if self.min_history is not None and self.min_history > len(self.offsets):
            raise ValueError(f"min_history ({self.min_history}) exceeds the {len(self.offsets)} days of {self.method}")
        return self

    @cached_property
    def offsets(self) -> tuple[int, ...]:
        """How many days before the judged day each day of the baseline is, oldest first."""
        if self.baseline == "weekday":
            return tuple(7 * k for k in range(self.weeks, 0, -1))
        if self.baseline == "seasonal":
            return tuple(range(7 * self.weeks, 0, -1))
        return self.trailing

    @cached_property
    def trailing(self) -> tuple[int, ...]:
        return tuple(range(self.baseline_days, 0, -1))

    @cached_property
    def fallback(self) -> SpikeParams:
        """A weekday or seasonal rule's params until it has its days: the trailing median.
        Built anew: ``model_copy`` would copy this instance's cached properties too."""
        return SpikeParams(**{**self.model_dump(), "baseline": "median", "min_history": None})

    @cached_property
    def strict(self) -> bool:
        """A weekday rule that needs every week of its history: without the oldest, too few."""
        return self.baseline == "weekday" and self.needed == len(self.offsets)

    @cached_property
    def widen_only(self) -> bool:
        """The calendar can only widen this rule's band (``holidays: widen`` on a baseline it
        does not change): a day that does not fire without it does not fire with it."""
        return self.holidays == "widen" and self.baseline != "seasonal"

    @property
    def lookback(self) -> int:
        """The days a window keeps before the judged day."""
        return max(self.offsets[0], self.trailing[0])

    @cached_property
    def needed(self) -> int:
        """How many of the baseline's days must be present."""
        least = seasonal.MIN_DAYS if self.baseline == "seasonal" else 5
        return self.min_history if self.min_history is not None else min(least, len(self.offsets))

    @cached_property
    def method(self) -> str:
        """The baseline in words, for the alert and the report."""
        if self.baseline == "weekday":
            return f"the median of the same weekday over {self.weeks} weeks"
        if self.baseline == "seasonal":
            return f"the seasonal fit of {self.weeks} weeks (weekday factors, a {self.band_mads:g}-MAD band)"
        return f"the {self.baseline_days}-day {self.baseline}"


@dataclass(frozen=True)
class Spike:
    value: float
    baseline: float
    ratio: float
    zscore: float | None = None


Baseline = tuple[float, float, float]  # (baseline, mean, sd of the history)


def baseline(history: Sequence[float], p: SpikeParams) -> Baseline | None:
    """What a day is judged against, or None when there is too little history or the
    baseline is below ``min_baseline``. ``history``: the days at ``p.offsets`` that are
    present. The standard deviation is floored at 1% of the mean, so a perfectly flat
    history still has a finite z-score."""
    n = len(history)
    if n < p.needed:
        return None
    if p.baseline != "mean":
        s = sorted(history)
        base = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2
    else:
        base = statistics.fmean(history)
    if base <= 0 or base < p.min_baseline:
        return None
    if p.zscore is None:
        return base, 0.0, 0.0
    mean = statistics.fmean(history)
    return base, mean, max(statistics.pstdev(history), 0.01 * mean)


def judge(value: float, b: Baseline | None, p: SpikeParams, widen: float = 1.0) -> Spike | None:
    """A spike when ``value >= ratio * baseline`` and/or its z-score reaches ``zscore``
    (both, when both are set), each times ``widen`` (a special day's wider band). O(1):
    the baseline is computed once per day."""
    if b is None:
        return None
    base, mean, sd = b
    if p.ratio is not None and value < p.ratio * widen * base:
        return None
    z = None
    if p.zscore is not None:
        z = (value - mean) / sd
        if z < p.zscore * widen:
            return None
    return Spike(value=value, baseline=base, ratio=value / base, zscore=z)


def fire_line(b: Baseline | None, p: SpikeParams, widen: float = 1.0) -> float | None:
    """The least value ``judge`` fires on against ``b``: ``ratio x baseline`` and/or
    ``mean + zscore x sd``, the higher of the two when both are set. None without a
    baseline (too little history, or below ``min_baseline``): nothing fires."""
    if b is None:
        return None
    base, mean, sd = b
    bounds = []
    if p.ratio is not None:
        bounds.append(p.ratio * widen * base)
    if p.zscore is not None:
        bounds.append(mean + p.zscore * widen * sd)
    return max(bounds)


def detect(value: float, history: Sequence[float], p: SpikeParams) -> Spike | None:
    """``judge`` against the ``baseline`` of ``history``. Needs ``p.needed`` days and a
    baseline of at least ``min_baseline`` (and above zero), so that 0 -> N never fires."""
    return judge(value, baseline(history, p), p)
