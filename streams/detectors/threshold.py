"""Threshold with an optional ``for`` duration. Pure: (state, observation) -> (state, decision)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from alerts.yamlfile import Duration


class ThresholdParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    op: Literal["above", "below"] = "above"
    value: float
    for_seconds: Duration = Field(0.0, alias="for")


def init() -> dict:
    return {"since": None, "firing": False}


def step(p: ThresholdParams, state: dict | None, value: float, ts: float) -> tuple[dict, str | None]:
    """Return the new state and ``"firing"`` / ``"resolved"`` on a transition, else None.

    Fires once the condition has held for ``for`` seconds of event time; resolves
    on the first observation that no longer breaches.
    """
    state = state or init()
    breach = value > p.value if p.op == "above" else value < p.value
    if not breach:
        return init(), "resolved" if state["firing"] else None
    since = state["since"] if state["since"] is not None else ts
    if state["firing"]:
        return {"since": since, "firing": True}, None
    if ts - since >= p.for_seconds:
        return {"since": since, "firing": True}, "firing"
    return {"since": since, "firing": False}, None
