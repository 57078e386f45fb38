"""Chart moves against the previous snapshot of the same chart. Pure.

A snapshot is every rank event of one chart (platform, country, chart, category)
with the same ``ts``. An app absent from the previous snapshot counts as beyond
the chart (one place below that snapshot's last rank). The first snapshot is the
warm-up and fires nothing.

The state keeps each app's last (ts, rank) and the chart's recent snapshot times.
In the worker a chart's events come from several partitions, so they can arrive
out of order across apps (never for one app: one app is one key). Judging an app
against *its own* last observation and the chart's snapshot before ``ts`` makes a
reordering cost at worst a missed alert, never a false "entered the chart".
``dropped_out`` is decided one snapshot later, when the next one starts.
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
    def _one(self) -> RankParams:
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


KEEP_SNAPSHOTS = 20


def init() -> dict:
    return {"apps": {}, "snaps": []}  # apps: {app: [ts, rank]}; snaps: [[ts, max rank], ...]


def _fires(p: RankParams, was: int, rank: int) -> bool:
    return bool(
        (p.entered_top and was > p.entered_top >= rank)
        or (p.reached and was > p.reached >= rank)
        or (p.jump and was - rank >= p.jump)
    )


def observe(p: RankParams, state: dict | None, app_id: str, rank: int, ts: float) -> tuple[dict, list[Move]]:
    """Fold one rank event; return the new state and the moves that fire."""
    s = state or init()
    apps, snaps = dict(s["apps"]), [list(x) for x in s["snaps"]]
    last = apps.get(app_id)
    if last is not None and ts <= last[0]:
        return s, []  # a repeat or an older observation of this app
    moves: list[Move] = []
    times = [t for t, _ in snaps]
    if ts in times:
        i = times.index(ts)
        snaps[i][1] = max(snaps[i][1], rank)
    else:
        newest_before = max(times, default=None)
        snaps = sorted([*snaps, [ts, rank]])[-KEEP_SNAPSHOTS:]
        if p.dropped_out and newest_before is not None and ts > newest_before:
            moves += _dropped(p, apps, snaps)
    apps[app_id] = [ts, rank]
    earlier = [t for t, _ in snaps if t < ts]
    if earlier:  # else: the chart's first snapshot, the warm-up
        prev = max(earlier)
        before = last[1] if last is not None and last[0] == prev else None
        was = before if before is not None else dict(map(tuple, snaps))[prev] + 1
        if _fires(p, was, rank):
            moves.append(Move(app_id, before, rank, ts))
        elif p.dropped_out and before is not None and before <= p.dropped_out < rank:
            moves.append(Move(app_id, before, rank, ts))  # still charted, below the line
    return {"apps": apps, "snaps": snaps}, moves


def _dropped(p: RankParams, apps: dict, snaps: list) -> list[Move]:
    """Apps in the top N two snapshots ago that the last complete snapshot lacks (or ranks lower)."""
    if len(snaps) < 3:
        return []
    (before, _), (done, _) = snaps[-3], snaps[-2]
    return [Move(a, r, None, done) for a, (t, r) in apps.items() if t == before and r <= p.dropped_out]
