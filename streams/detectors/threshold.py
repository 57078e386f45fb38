"""Threshold with an optional ``for`` duration. Pure: (state, observation) -> (state, decision)."""

from __future__ import annotations

from typing import Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field

from alerts.yamlfile import Duration


class ThresholdParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    op: Literal["above", "below"] = "above"
    value: float
    for_seconds: Duration = Field(0.0, alias="for")


class State(msgspec.Struct, array_like=True, frozen=True, tag=1):
    since: float | None = None  # event time the breach began
    firing: bool = False


def step(p: ThresholdParams, state: State | None, value: float, ts: float) -> tuple[State, str | None]:
    """Return the new state and ``"firing"`` / ``"resolved"`` on a transition, else None.

    Fires once the condition has held for ``for`` seconds of event time; resolves
    on the first observation that no longer breaches.
    """
    state = state or State()
    breach = value > p.value if p.op == "above" else value < p.value
    if not breach:
        return State(), "resolved" if state.firing else None
    since = state.since if state.since is not None else ts
    if state.firing:
        return State(since, True), None
    if ts - since >= p.for_seconds:
        return State(since, True), "firing"
    return State(since, False), None
