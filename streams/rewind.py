"""Partitions read past their end: a broker that came back without its data.

Kafka answers a fetch beyond a log's end with OFFSET_OUT_OF_RANGE, and the consumer resets
to the earliest offset by itself. Tansu answers with nothing, so a consumer whose position
(or an offset it committed as the broker came back) lies past the new end waits there for
good, and the records written below it are never read. ``rewind`` finds such partitions of
a consumer and reads them again from the start.

When to look is ``Checks``: after the broker was unreachable, and after a consumer's
partitions moved. The worker is not ready until every consumer has looked, so nothing
written after it says ready can fall below a stale position.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

log = logging.getLogger(__name__)
POSITION_TIMEOUT = 5.0


class Checks:
    """Which consumers compared their positions with their logs' ends since the broker
    last came back (an epoch) or since their partitions moved."""

    def __init__(self) -> None:
        self.epoch = 0
        self.checked: dict[str, int] = {}

    def add(self, name: str) -> None:
        self.checked[name] = self.epoch

    def broker_back(self) -> None:
        self.epoch += 1

    def moved(self, name: str) -> None:
        self.checked[name] = -1

    def due(self, name: str) -> bool:
        return self.checked.get(name, self.epoch) < self.epoch

    def done(self, name: str, epoch: int) -> None:
        self.checked[name] = max(self.checked.get(name, -1), epoch)

    def pending(self) -> list[str]:
        return sorted(n for n, e in self.checked.items() if e < self.epoch)

    async def run(self, name: str, check: Callable[[], Awaitable[list | None]]) -> None:
        """``check()`` if ``name`` is due; done when it could compare (not None)."""
        if self.due(name):
            epoch = self.epoch
            if await check() is not None:
                self.done(name, epoch)


def past_end(positions: Mapping[Any, int | None], ends: Mapping[Any, int]) -> list:
    """The partitions whose position lies beyond the end of their log."""
    return sorted(
        (tp for tp, pos in positions.items() if pos is not None and ends.get(tp) is not None and pos > ends[tp]),
        key=lambda tp: (tp.topic, tp.partition),
    )


async def lost(
    tps: Iterable,
    position: Callable[[Any], Awaitable[int | None]],
    ends: Callable[..., Awaitable[Mapping[Any, int]]],
    correct=None,
) -> list | None:
    """``past_end`` of ``tps``, asking the consumer (either kind) for positions and ends;
    None if it could not ask. ``correct(ends)``: the true ends of the suspects, where the
    broker's may be short (Tansu's, ``streams.tansu.true_ends``)."""
    tps = list(tps)
    if not tps:
        return []
    try:
        last = await ends(*tps)
        positions = {tp: await asyncio.wait_for(position(tp), POSITION_TIMEOUT) for tp in tps}
        found = past_end(positions, last)
        if found and correct is not None:
            found = past_end({tp: positions[tp] for tp in found}, await correct({tp: last[tp] for tp in found}))
    except Exception as exc:  # noqa: BLE001 - the broker is away, or a rebalance: next time
        log.info("rewind: could not compare positions with ends (%r)", exc)
        return None
    if found:
        log.warning(
            "%s: past the end of their log (the broker lost its data); read again from the start",
            ", ".join(f"{tp.topic}/{tp.partition}" for tp in found),
        )
    return found


async def rewind(consumer, correct=None) -> list | None:
    """An aiokafka consumer: seek each partition past its end to the beginning."""
    found = await lost(consumer.assignment(), consumer.position, lambda *tps: consumer.end_offsets(list(tps)), correct)
    if found:
        await consumer.seek_to_beginning(*found)
    return found


async def rewind_faust(consumer, changelogs: Iterable[str]) -> list | None:
    """Faust's consumer (its stream partitions, not the table changelogs): seek to 0, which
    also clears the offset Faust filters re-read records with. Its ends are true ends
    already (``streams.tansu`` corrects them on Tansu)."""
    skip = set(changelogs)
    found = await lost(
        (tp for tp in consumer.assignment() if tp.topic not in skip), consumer.position, consumer.highwaters
    )
    for tp in found or ():
        await consumer.seek(tp, 0)
    return found
