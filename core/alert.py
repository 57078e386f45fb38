"""The Alert: what backtest prints and what a webhook carries as ``data``."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field


def alert_id(rule: str, labels: dict[str, str], window_start: str) -> str:
    """Stable hash of rule + series labels + window."""
    body = orjson.dumps([rule, labels, window_start], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()[:32]


class Alert(BaseModel):
    model_config = ConfigDict(extra="allow")

    alert_id: str
    rule: str
    kind: str
    status: Literal["firing", "resolved"] = "firing"
    severity: str = "warning"
    labels: dict[str, str]
    value: float | None = None
    baseline: float | None = None
    window_start: str | None = None
    window_end: str | None = None
    event_ts: str
    summary: str
    context: list[dict[str, Any]] = Field(default_factory=list)
    # optional additions to the contract
    observed_at: float | None = None  # unix time the triggering event entered Kafka
    late: bool = False
    resolves: bool = False  # a state (threshold, deadman) that will resolve; else a one-off event

    @property
    def delivery_key(self) -> str:
        """``alert_id:status``: what dedup, the outbox and delivery tracking key on."""
        return f"{self.alert_id}:{self.status}"

    def to_json(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))
