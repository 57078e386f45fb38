"""Day-over-day or week-over-week change in percent. Pure."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ChangeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    compare: Literal["dod", "wow"] = "dod"
    pct: float = Field(gt=0, description="fire when the change is at least this many percent")
    direction: Literal["up", "down", "both"] = "up"
    min_baseline: float = Field(1000.0, gt=0)
    allowed_lateness_days: int = Field(2, ge=0, le=30)

    @property
    def lag_days(self) -> int:
        return 1 if self.compare == "dod" else 7


def detect(value: float, before: float | None, p: ChangeParams) -> float | None:
    """The change in percent if it crosses ``pct`` in ``direction``, else None."""
    if before is None or before < p.min_baseline:
        return None
    change = (value - before) / before * 100
    if p.direction == "up" and change >= p.pct:
        return change
    if p.direction == "down" and -change >= p.pct:
        return change
    if p.direction == "both" and abs(change) >= p.pct:
        return change
    return None


def bounds(before: float | None, p: ChangeParams) -> tuple[float | None, float | None]:
    """The values ``detect`` fires at against ``before``: (at or above, at or below). A side
    is None when ``direction`` does not watch it, when ``before`` is missing or below
    ``min_baseline``, or (below) when no value of at least zero can fire."""
    if before is None or before < p.min_baseline:
        return None, None
    up = before * (1 + p.pct / 100) if p.direction in ("up", "both") else None
    down = before * (1 - p.pct / 100) if p.direction in ("down", "both") else None
    return up, (down if down is not None and down >= 0 else None)
