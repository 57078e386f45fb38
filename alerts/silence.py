"""Silences: mute alerts whose labels match, from a start to an end time. Pure.

Silences travel on a compacted topic keyed by silence id, so every worker sees
all of them and they survive restarts; expiring one republishes it ending now.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from core.matchers import Matchers, matches_all


class Silence(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    matchers: Annotated[Matchers, Field(min_length=1)]
    starts_at: float = Field(default_factory=time.time)
    ends_at: float
    created_by: Annotated[str, Field(min_length=1)]
    comment: Annotated[str, Field(min_length=1)]

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, labels: dict[str, str], now: float) -> bool:
        return self.active(now) and matches_all(list(self.matchers), labels)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


def silenced(labels: dict[str, str], silences: dict[str, Silence], now: float) -> Silence | None:
    """The first active silence that mutes these labels, if any."""
    return next((s for s in silences.values() if s.mutes(labels, now)), None)


def dump_matchers(s: Silence) -> str:
    """The matchers as Alertmanager prints them (quoted, escaped): the text parses back to them."""
    return ", ".join(str(m) for m in s.matchers)
