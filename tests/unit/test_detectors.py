"""Unit and property tests for each pure detector."""

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from streams.detectors import change, deadman, milestone, news_match, rank, threshold
from streams.detectors.change import ChangeParams
from streams.detectors.deadman import DeadmanParams
from streams.detectors.milestone import MilestoneParams
from streams.detectors.news_match import NewsMatchParams
from streams.detectors.rank import RankParams
from streams.detectors.threshold import ThresholdParams

# -- threshold ------------------------------------------------------------


def run_threshold(p, obs):
    state, out = None, []
    for t, v in obs:
        state, tr = threshold.step(p, state, v, t)
        out.append(tr)
    return out


def test_threshold_fires_after_for_and_resolves():
    p = ThresholdParams(op="above", value=100, **{"for": "1h"})
    assert run_threshold(p, [(0, 150), (1800, 160), (3600, 170), (4000, 180), (5000, 50), (6000, 40)]) == [
        None,
        None,
        "firing",
        None,
        "resolved",
        None,
    ]


def test_threshold_below_without_for_fires_at_once():
    p = ThresholdParams(op="below", value=10)
    assert run_threshold(p, [(0, 20), (1, 5), (2, 4), (3, 11)]) == [None, "firing", None, "resolved"]


@given(st.lists(st.tuples(st.integers(0, 10**6), st.floats(-1e6, 1e6)), max_size=40))
def test_threshold_transitions_alternate(obs):
    obs = sorted(obs)
    seq = [t for t in run_threshold(ThresholdParams(value=0, **{"for": 10}), obs) if t]
    assert all(a != b for a, b in pairwise(seq))  # firing, resolved, firing ...
    assert not seq or seq[0] == "firing"


# -- change ---------------------------------------------------------------


@pytest.mark.parametrize(
    "value,before,direction,expected",
    [
        (1500, 1000, "up", 50.0),
        (1400, 1000, "up", None),
        (500, 1000, "down", -50.0),
        (1500, 1000, "down", None),
        (500, 1000, "both", -50.0),
        (1500, 500, "up", None),  # low baseline
        (1500, None, "up", None),
    ],
)
def test_change(value, before, direction, expected):
    assert change.detect(value, before, ChangeParams(pct=50, direction=direction)) == expected


@given(st.floats(1000, 1e9), st.floats(1, 1000))
def test_change_flat_never_fires(v, pct):
    assert change.detect(v, v, ChangeParams(pct=pct, direction="both")) is None


# -- milestone ------------------------------------------------------------

M = MilestoneParams(values=[1e7, 5e7, 1e8, 1.5e8])


def test_milestone_highest_crossed_and_first_observation_silent():
    assert milestone.step(M, None, 2e8) is None
    assert milestone.step(M, 4e7, 1.6e8) == 1.5e8
    assert milestone.step(M, 1.5e8, 1.6e8) is None  # at it before: not a crossing
    assert milestone.step(M, 1.49e8, 1.5e8) == 1.5e8  # reaching it exactly counts


@given(st.lists(st.floats(0, 2e8), min_size=1, max_size=30))
def test_milestone_each_fires_at_most_once_on_a_rising_series(values):
    values, fired, prev = sorted(values), [], None
    for v in values:
        hit = milestone.step(M, prev, v)
        if hit:
            fired.append(hit)
        prev = v
    assert len(fired) == len(set(fired))


# -- rank -----------------------------------------------------------------


def snapshots(p, snaps):
    """snaps: list of {app: rank}; returns the moves per snapshot (dropped_out come one later)."""
    state, out = None, []
    for i, snap in enumerate(snaps):
        moves = []
        for app, r in snap.items():
            state, m = rank.observe(p, state, app, r, float(i))
            moves += m
        out.append(sorted((m.app_id, m.previous, m.rank) for m in moves))
    return out


def test_first_snapshot_is_warm_up():
    assert snapshots(RankParams(reached=1), [{"doubao": 1, "kimi": 2}]) == [[]]


def test_reached_number_one_and_entered_top():
    snaps = [{"a": 2, "b": 1, "c": 12}, {"a": 1, "b": 2, "c": 9}, {"a": 1, "b": 2, "c": 8}]
    assert snapshots(RankParams(reached=1), snaps) == [[], [("a", 2, 1)], []]
    assert snapshots(RankParams(entered_top=10), snaps) == [[], [("c", 12, 9)], []]


def test_absent_from_previous_snapshot_counts_as_beyond_the_chart():
    snaps = [{"a": 1, "b": 2, "c": 3}, {"new": 2, "a": 1}]
    assert snapshots(RankParams(jump=2), snaps) == [[], [("new", None, 2)]]  # beyond = 4


def test_dropped_out_is_decided_when_the_snapshot_completes():
    snaps = [{"a": 1, "b": 5}, {"a": 1}, {"a": 1}]
    assert snapshots(RankParams(dropped_out=10), snaps) == [[], [], [("b", 5, None)]]


def test_an_older_snapshot_arriving_late_fires_nothing():
    p = RankParams(reached=1)
    s, _ = rank.observe(p, None, "a", 2, 10.0)
    s, _ = rank.observe(p, s, "a", 1, 20.0)
    s, moves = rank.observe(p, s, "b", 1, 5.0)  # the chart's first snapshot, learned late
    assert moves == []
    s, moves = rank.observe(p, s, "a", 1, 15.0)  # older than a's last observation
    assert moves == []


def test_reordering_across_apps_never_makes_a_false_entry():
    """Snapshot 2 of app b arrives before snapshot 1 of app a (different partitions)."""
    p = RankParams(entered_top=10)
    s, m1 = rank.observe(p, None, "a", 3, 1.0)
    s, m2 = rank.observe(p, s, "b", 4, 1.0)
    s, m3 = rank.observe(p, s, "b", 4, 3.0)
    s, m4 = rank.observe(p, s, "a", 3, 2.0)  # a's snapshot 2, late
    s, m5 = rank.observe(p, s, "a", 3, 3.0)
    assert m1 + m2 + m3 + m4 + m5 == []


def test_falling_below_the_line_is_dropped_out_at_once():
    assert snapshots(RankParams(dropped_out=3), [{"a": 2}, {"a": 5}]) == [[], [("a", 2, 5)]]


def test_rank_params_need_exactly_one():
    with pytest.raises(ValidationError):
        RankParams()
    with pytest.raises(ValidationError):
        RankParams(reached=1, jump=3)


@given(st.lists(st.permutations(["a", "b", "c", "d", "e"]), min_size=1, max_size=8))
def test_an_unchanged_chart_never_moves(orders):
    first = orders[0]
    snaps = [{app: i + 1 for i, app in enumerate(first)}] * len(orders)
    for p in (RankParams(reached=1), RankParams(entered_top=3), RankParams(jump=1), RankParams(dropped_out=3)):
        assert all(m == [] for m in snapshots(p, snaps))


# -- deadman --------------------------------------------------------------


def test_deadman_per_source_limits():
    p = DeadmanParams(**{"for": "6h", "per_source": {"daily": "36h"}})
    seen = {"hn": 0.0, "daily": 0.0}
    assert deadman.sweep(p, seen, set(), 5 * 3600) == ([], [])
    assert deadman.sweep(p, seen, set(), 7 * 3600) == (["hn"], [])
    assert deadman.sweep(p, seen, {"hn"}, 37 * 3600) == (["daily"], [])
    assert deadman.sweep(p, {**seen, "hn": 36 * 3600}, {"hn"}, 37 * 3600) == (["daily"], ["hn"])


@given(st.dictionaries(st.sampled_from("abcdef"), st.floats(0, 1e6)), st.floats(0, 2e6))
def test_deadman_fires_only_for_silent_sources(seen, now):
    p = DeadmanParams(**{"for": 1000})
    fire, resolve = deadman.sweep(p, seen, set(), now)
    assert all(now - seen[s] > 1000 for s in fire) and resolve == []


# -- news_match -----------------------------------------------------------


def test_news_match():
    talent = NewsMatchParams(kinds=["hire", "dispute"], companies="tracked")
    tracked = {"ByteDance", "Alibaba"}
    assert news_match.matches(talent, "hire", ["ByteDance", "Alibaba"], [], "t", tracked)
    assert not news_match.matches(talent, "launch", ["ByteDance"], [], "t", tracked)
    assert not news_match.matches(talent, "hire", ["Apple"], [], "t", tracked)
    kw = NewsMatchParams(keywords=[r"non-?compete|竞业"], people=["卓畅"])
    assert news_match.matches(kw, "dispute", [], ["卓畅"], "卓畅 竞业纠纷", set())
    assert not news_match.matches(kw, "dispute", [], ["周畅"], "竞业", set())
    with pytest.raises(ValidationError, match="bad regex"):
        NewsMatchParams(keywords=["(unclosed"])


KINDS = ["hire", "departure", "dispute", "reorg", "funding", "launch", "other"]
COS = ["ByteDance", "Alibaba", "Baidu", "Apple"]


@given(
    kind=st.sampled_from(KINDS),
    companies=st.lists(st.sampled_from(COS), unique=True),
    text=st.text(max_size=50),
    want_kinds=st.lists(st.sampled_from(KINDS), unique=True),
    want_cos=st.lists(st.sampled_from(COS), unique=True),
)
def test_news_match_constraints_only_narrow(kind, companies, text, want_kinds, want_cos):
    tracked = {"ByteDance", "Alibaba", "Baidu"}
    assert news_match.matches(NewsMatchParams(), kind, companies, [], text, tracked)  # no constraint
    narrow = NewsMatchParams(kinds=want_kinds, companies=want_cos)
    hit = news_match.matches(narrow, kind, companies, [], text, tracked)
    assert hit == ((not want_kinds or kind in want_kinds) and (not want_cos or bool(set(want_cos) & set(companies))))


@given(
    st.lists(st.dictionaries(st.sampled_from("abcde"), st.integers(1, 15), min_size=1), min_size=1, max_size=6),
    st.randoms(use_true_random=False),
)
def test_reordering_across_apps_only_ever_loses_alerts(snaps, rnd):
    """Per app the order holds (one key, one partition); across apps anything goes.

    "z" holds the last place of every snapshot, as a full chart's tail does."""
    events = [(app, r, float(i)) for i, snap in enumerate(snaps) for app, r in {**snap, "z": 16}.items()]
    queues = {app: [e for e in events if e[0] == app] for app in "abcdez"}
    shuffled = []
    while any(queues.values()):
        app = rnd.choice([a for a, q in queues.items() if q])
        shuffled.append(queues[app].pop(0))
    for p in (RankParams(entered_top=5), RankParams(reached=1), RankParams(jump=3)):

        def run(seq, p=p):
            state, out = None, set()
            for app, r, t in seq:
                state, moves = rank.observe(p, state, app, r, t)
                out |= {(m.app_id, m.snapshot_ts) for m in moves}
            return out

        assert run(shuffled) <= run(events)
