"""A cumulative metric crossing one of a list of values. Pure."""

from __future__ import annotations

from typing import Annotated

import msgspec
from pydantic import BaseModel, ConfigDict, Field


class MilestoneParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    values: Annotated[list[float], Field(min_length=1)]


class State(msgspec.Struct, array_like=True, frozen=True, tag=2):
    last: float | None = None  # the highest value seen


def step(p: MilestoneParams, previous: float | None, value: float) -> float | None:
    """The highest milestone with ``previous < m <= value``, or None.

    The first observation (``previous is None``) fires nothing.
    """
    if previous is None:
        return None
    crossed = [m for m in p.values if previous < m <= value]
    return max(crossed) if crossed else None
