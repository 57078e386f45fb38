"""Threshold with an optional ``for`` duration. Pure: (state, observation) -> (state, decision)."""

from __future__ import annotations

from typing import Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field

from core.yamlfile import Duration


class ThresholdParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    op: Literal["above", "below"] = "above"
    value: float
    for_seconds: Duration = Field(0.0, alias="for")


class State(msgspec.Struct, array_like=True, frozen=True, tag=1):
    since: float | None = None  # event time the breach began
    firing: bool = False
    due: float | None = None  # pending: when the timer fires it, on the caller's clock
    value: float | None = None  # the last breaching value (what the timer's alert reports)


def step(
    p: ThresholdParams, state: State | None, value: float, ts: float, now: float | None = None
) -> tuple[State, str | None]:
    """Return the new state and ``"firing"`` / ``"resolved"`` on a transition, else None.

    Fires once the condition has held for ``for`` seconds: when an event ``for`` after the
    breach began says so, or (``due``) when ``expired`` finds that time has passed on the
    caller's clock (``now``: when this event arrived; default its event time), as
    Prometheus evaluates ``for:`` on a timer. Resolves on the first observation that no
    longer breaches.
    """
    state = state or State()
    breach = value > p.value if p.op == "above" else value < p.value
    if not breach:
        return State(), "resolved" if state.firing else None
    since = state.since if state.since is not None else ts
    if state.firing:
        return State(since, True), None
    held = ts - since
    if held >= p.for_seconds:
        return State(since, True), "firing"
    return State(since, False, (ts if now is None else now) + p.for_seconds - held, value), None


def expired(state: State, now: float) -> bool:
    """A pending breach whose ``for`` has passed by ``now`` (the timer fires it)."""
    return state.due is not None and not state.firing and state.due <= now
