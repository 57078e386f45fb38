"""One series' state: its rules' folds, the event ids it saw lately, the input offset it holds.

A series is ``app_id|platform|country|metric``. The detect stage keeps one
``SeriesState`` per series and partition and writes it to the changelog as one
msgpack record (``encode``) whenever a batch changed it; backtest keeps the same
objects in a dict. Two guards make folding an event idempotent:

- ``offset``: the last input offset folded in. After a crash the stage replays from its
  committed offset; a record at or below ``offset`` is already in the state.
- ``ids``: the event ids of the last ``horizon`` seconds of event time (the rules' late-data
  horizon). A producer retry or a connector that re-sends has a new offset but the same
  ``event_id``. An event older than the horizon is too late for every rule, so an id
  never needs to be kept longer.
"""

from __future__ import annotations

import msgspec

from streams.detectors import milestone, threshold
from streams.windows import Daily, DailyV0, upgrade

RuleState = Daily | threshold.State | milestone.State | DailyV0


class SeriesState(msgspec.Struct, array_like=True):
    offset: int = -1  # the last input offset folded in (its partition's); -1: none
    newest: float = 0.0  # the newest event time folded in (unix seconds)
    ids: dict[str, float] = msgspec.field(default_factory=dict)  # event id -> its ts
    rules: dict[str, RuleState] = msgspec.field(default_factory=dict)  # rule name -> its fold


def key(ev) -> str:
    return f"{ev.app_id}|{ev.platform}|{ev.country}|{ev.metric}"


encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(SeriesState).decode


def decode(raw: bytes) -> SeriesState:
    """A changelog record's series; windows of an older layout are upgraded as they are read."""
    st = _decode(raw)
    for name, fold in st.rules.items():
        if fold.__class__ is DailyV0:
            st.rules[name] = upgrade(fold)
    return st
