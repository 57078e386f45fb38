"""Spike detection against a trailing baseline. Pure: no Faust, no Kafka."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class SpikeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    ratio: Annotated[float, Field(gt=1.0)] | None = 2.0
    zscore: Annotated[float, Field(gt=0)] | None = None
    baseline_days: Annotated[int, Field(ge=1, le=90)] = 7
    min_history: Annotated[int, Field(ge=1)] = 5
    min_baseline: Annotated[float, Field(gt=0)] = 1000.0
    baseline: Literal["median", "mean"] = "median"
    allowed_lateness_days: Annotated[int, Field(ge=0, le=30)] = 2

    @model_validator(mode="after")
    def _history_fits(self) -> SpikeParams:
        if self.ratio is None and self.zscore is None:
            raise ValueError("give ratio and/or zscore")
        if self.min_history > self.baseline_days:
            raise ValueError(f"min_history ({self.min_history}) exceeds baseline_days ({self.baseline_days})")
        return self


@dataclass(frozen=True)
class Spike:
    value: float
    baseline: float
    ratio: float
    zscore: float | None = None


Baseline = tuple[float, float, float]  # (baseline, mean, sd of the history)


def baseline(history: Sequence[float], p: SpikeParams) -> Baseline | None:
    """What a day is judged against, or None when there is too little history or the
    baseline is below ``min_baseline``. The standard deviation is floored at 1% of the
    mean, so a perfectly flat history still has a finite z-score."""
    n = len(history)
    if n < p.min_history:
        return None
    if p.baseline == "median":
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


def judge(value: float, b: Baseline | None, p: SpikeParams) -> Spike | None:
    """A spike when ``value >= ratio * baseline`` and/or its z-score reaches ``zscore``
    (both, when both are set). O(1): the baseline is computed once per day."""
    if b is None:
        return None
    base, mean, sd = b
    if p.ratio is not None and value < p.ratio * base:
        return None
    z = None
    if p.zscore is not None:
        z = (value - mean) / sd
        if z < p.zscore:
            return None
    return Spike(value=value, baseline=base, ratio=value / base, zscore=z)


def fire_line(b: Baseline | None, p: SpikeParams) -> float | None:
    """The least value ``judge`` fires on against ``b``: ``ratio x baseline`` and/or
    ``mean + zscore x sd``, the higher of the two when both are set. None without a
    baseline (too little history, or below ``min_baseline``): nothing fires."""
    if b is None:
        return None
    base, mean, sd = b
    bounds = []
    if p.ratio is not None:
        bounds.append(p.ratio * base)
    if p.zscore is not None:
        bounds.append(mean + p.zscore * sd)
    return max(bounds)


def detect(value: float, history: Sequence[float], p: SpikeParams) -> Spike | None:
    """``judge`` against the ``baseline`` of ``history``. Needs ``min_history`` days and a
    baseline of at least ``min_baseline`` (and above zero), so that 0 -> N never fires."""
    return judge(value, baseline(history, p), p)
