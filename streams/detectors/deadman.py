"""No event from a source for a while. Pure; the caller sweeps with its clock."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from core.yamlfile import Duration


class DeadmanParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    for_seconds: Duration = Field(36 * 3600.0, alias="for")
    per_source: dict[str, Duration] = Field(default_factory=dict, description="source -> duration")

    def limit(self, source: str) -> float:
        return self.per_source.get(source, self.for_seconds)


def sweep(p: DeadmanParams, last_seen: dict[str, float], firing: set[str], now: float) -> tuple[list[str], list[str]]:
    """Sources that went stale (fire) and stale ones that came back (resolve)."""
    stale = {s for s, t in last_seen.items() if now - t > p.limit(s)}
    return sorted(stale - firing), sorted(firing - stale)
