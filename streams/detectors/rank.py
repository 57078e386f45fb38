"""Chart moves against the previous snapshot of the same chart. Pure.

A snapshot is every rank event of one chart (platform, country, chart, category)
with the same ``ts``. An app absent from the previous snapshot counts as beyond
the chart (one place below its last rank). The first snapshot is the warm-up and
fires nothing. ``dropped_out`` is decided when a snapshot is complete, that is
when the next one starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RankParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    entered_top: int | None = Field(None, ge=1)
    reached: int | None = Field(None, ge=1)
    jump: int | None = Field(None, ge=1)
    dropped_out: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _one(self) -> "RankParams":
        given = [k for k in ("entered_top", "reached", "jump", "dropped_out") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of entered_top, reached, jump, dropped_out")
        return self


@dataclass(frozen=True)
class Move:
    app_id: str
    previous: int | None  # None: absent from the previous snapshot
    rank: int | None  # None: absent from the completed snapshot (dropped_out)
    snapshot_ts: float


def init() -> dict:
    return {"prev": {}, "prev_ts": None, "cur": {}, "cur_ts": None}


def _beyond(snapshot: dict) -> int:
    return max(snapshot.values(), default=0) + 1


def observe(p: RankParams, state: dict | None, app_id: str, rank: int,
            ts: float) -> tuple[dict, list[Move]]:
    """Fold one rank event; return the new state and the moves that fire."""
    s = state or init()
    if s["cur_ts"] is not None and ts < s["cur_ts"]:
        return s, []  # a late, older snapshot
    moves: list[Move] = []
    if s["cur_ts"] is None or ts > s["cur_ts"]:
        if p.dropped_out and s["cur_ts"] is not None and s["prev_ts"] is not None:
            moves += [Move(a, r, s["cur"].get(a), s["cur_ts"]) for a, r in s["prev"].items()
                      if r <= p.dropped_out and s["cur"].get(a, p.dropped_out + 1) > p.dropped_out]
        s = {"prev": s["cur"], "prev_ts": s["cur_ts"], "cur": {}, "cur_ts": ts}
    s = {**s, "cur": {**s["cur"], app_id: rank}}
    if s["prev_ts"] is None:
        return s, moves  # warm-up
    before = s["prev"].get(app_id)
    was = before if before is not None else _beyond(s["prev"])
    fire = (
        (p.entered_top and was > p.entered_top >= rank)
        or (p.reached and was > p.reached >= rank)
        or (p.jump and was - rank >= p.jump)
    )
    if fire:
        moves.append(Move(app_id, before, rank, ts))
    return s, moves
