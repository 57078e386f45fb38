"""Which partitions lie past their log's end, and when each consumer must look."""

import asyncio
from collections import namedtuple

from hypothesis import given
from hypothesis import strategies as st

from streams.rewind import Checks, past_end

TP = namedtuple("TP", "topic partition")


def test_only_positions_beyond_the_end_are_lost():
    a, b, c, d = (TP("t", p) for p in range(4))
    assert past_end({a: 5, b: 2, c: None, d: 3}, {a: 2, b: 2, c: 0}) == [a]


@given(st.dictionaries(st.integers(0, 7), st.tuples(st.integers(0, 50), st.integers(0, 50))))
def test_past_end_is_exactly_position_greater_than_end(parts):
    positions = {TP("t", p): pos for p, (pos, _) in parts.items()}
    ends = {TP("t", p): end for p, (_, end) in parts.items()}
    assert past_end(positions, ends) == sorted(tp for tp in positions if positions[tp] > ends[tp])


def test_a_consumer_looks_again_after_the_broker_came_back_and_after_its_partitions_moved():
    asyncio.run(_looks_again())


async def _looks_again():
    checks, looked = Checks(), []

    async def look():
        looked.append(1)
        return []

    checks.add("detect")
    await checks.run("detect", look)
    assert looked == [] and checks.pending() == []  # a fresh start needs no look
    checks.broker_back()
    assert checks.pending() == ["detect"]
    await checks.run("detect", look)
    await checks.run("detect", look)
    assert looked == [1] and checks.pending() == []
    checks.moved("detect")
    assert checks.pending() == ["detect"]
    await checks.run("detect", look)
    assert looked == [1, 1] and checks.pending() == []


def test_a_look_that_could_not_ask_the_broker_stays_pending():
    asyncio.run(_stays_pending())


async def _stays_pending():
    checks = Checks()
    checks.add("firing")
    checks.broker_back()

    async def away():
        return None

    await checks.run("firing", away)
    assert checks.pending() == ["firing"]
