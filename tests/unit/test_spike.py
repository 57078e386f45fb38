"""The spike detector and the daily-window fold: properties and examples."""

from datetime import UTC, date
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.events import validate
from streams import series, windows
from streams.detectors.spike import SpikeParams, detect
from streams.engine import Engine
from streams.rules import RuleSet, SpikeRule

P = SpikeParams()
values = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
histories = st.lists(values, min_size=0, max_size=7)


@given(level=values, n=st.integers(0, 7))
def test_a_flat_series_never_fires(level, n):
    assert detect(level, [level] * n, P) is None


@given(history=st.lists(st.just(0.0), max_size=7), value=values)
def test_zero_to_n_never_fires(history, value):
    assert detect(value, history, P) is None


ints = st.integers(0, 10**9).map(float)


@given(value=ints, history=st.lists(ints, max_size=7), exp=st.integers(-20, 20))
def test_scaling_does_not_change_whether_it_fires(value, history, exp):
    k = 2.0**exp  # exact in binary floating point
    p = SpikeParams(min_baseline=1e-300)  # isolate scale invariance from the absolute floor
    assert (detect(value, history, p) is None) == (detect(value * k, [h * k for h in history], p) is None)


@given(value=values, history=histories)
def test_fires_exactly_when_value_reaches_ratio_times_median(value, history):
    import statistics

    spike = detect(value, history, P)
    enough = len(history) >= P.needed
    base = statistics.median(history) if history else 0
    expected = enough and base >= P.min_baseline and value >= P.ratio * base
    assert (spike is not None) == expected
    if spike:
        assert spike.ratio >= P.ratio and spike.baseline == base


def test_needs_min_history_and_min_baseline():
    assert detect(3000, [1000] * 4, P) is None  # 4 < 5 days
    assert detect(3000, [1000] * 5, P).ratio == 3.0
    assert detect(1998, [999] * 7, P) is None  # baseline below 1000
    assert detect(2000, [1000] * 7, SpikeParams(baseline="mean")).baseline == 1000


def test_params_are_validated():
    with pytest.raises(ValueError, match="min_history"):
        SpikeParams(min_history=8, baseline_days=7)
    with pytest.raises(ValueError):
        SpikeParams(ratio=1.0)


# -- the fold -------------------------------------------------------------

D = date(2024, 11, 14)
DAY = D.toordinal()


@given(st.lists(st.tuples(st.integers(0, 20), st.floats(0, 1e6)), max_size=60))
def test_fold_keeps_only_recent_days(obs):
    w = windows.Daily()
    for offset, v in obs:
        windows.add(w, DAY + offset, v, "delta", keep_days=9, lateness_days=9)
    days = windows.days(w)
    if days:
        assert w.newest == max(days)
        assert all(w.newest - d <= 9 for d in days)
        assert w.start + len(w.totals) - 1 == w.newest


@given(
    st.lists(st.tuples(st.integers(0, 40), st.floats(0, 1e6), st.sampled_from(["total", "delta"])), max_size=80),
    st.integers(0, 9),
    st.integers(1, 9),
)
def test_fold_matches_a_plain_recomputation(obs, lateness, lookback):
    """The in-place fold keeps exactly the days a from-scratch computation would."""
    keep = lookback + lateness
    w, taken = windows.Daily(), []
    for day, v, mode in obs:
        newest = max((d for d, _, _ in taken), default=day)
        ok = windows.add(w, DAY + day, v, mode, keep_days=keep, lateness_days=lateness)
        assert ok == (newest - day <= lateness)
        if ok:
            taken.append((day, v, mode))
    totals: dict[int, float] = {}
    for day, v, mode in taken:
        totals[day] = totals.get(day, 0.0) + v if mode == "delta" else v
    if taken:
        newest = max(d for d, _, _ in taken)
        assert windows.days(w) == {DAY + d: v for d, v in totals.items() if d >= newest - keep}


def test_a_window_is_one_compact_list_and_a_long_gap_resets_it():
    w = windows.Daily()
    windows.add(w, DAY, 5, "total", 9, 2)
    windows.add(w, DAY + 3, 6, "total", 9, 2)
    assert (w.start, w.totals) == (DAY, [5, None, None, 6])
    windows.add(w, DAY + 1, 1, "delta", 9, 2)  # late, inside the window
    assert w.totals == [5, 1, None, 6] and windows.total(w, DAY + 2) is None
    windows.add(w, DAY + 100, 7, "total", 9, 2)  # a gap longer than the window: nothing else stays
    assert (w.start, w.totals, w.newest) == (DAY + 100, [7], DAY + 100)


def test_a_changelog_record_of_the_old_dict_layout_is_restored_as_a_compact_window():
    old = series.SeriesState(
        rules={"spike": windows.DailyV0(days={DAY: 3.0, DAY + 2: 4.0}, fired=[DAY + 2], newest=DAY + 2)}
    )
    st = series.decode(msgspec.msgpack.encode(old))
    w = st.rules["spike"]
    assert w.__class__ is windows.Daily
    assert windows.days(w) == {DAY: 3.0, DAY + 2: 4.0}
    assert (w.start, w.newest, w.fired) == (DAY, DAY + 2, [DAY + 2])
    assert series.decode(series.encode(st)) == st


def test_total_last_wins_and_delta_adds():
    w = windows.Daily()
    windows.add(w, DAY, 5, "total", 9, 9)
    windows.add(w, DAY, 7, "total", 9, 9)
    assert windows.days(w) == {DAY: 7}
    windows.add(w, DAY, 3, "delta", 9, 9)
    assert windows.days(w) == {DAY: 10}
    assert windows.add(w, DAY - 10, 1, "total", 9, 9) is False  # too old
    assert windows.days(w) == {DAY: 10}


def test_history_skips_missing_days():
    w = windows.Daily()
    for back in (1, 2, 4):
        windows.add(w, DAY - back, back, "total", 9, 9)
    assert windows.history(w, DAY, P.offsets) == [4, 2, 1]


def test_a_late_change_to_a_baseline_day_drops_the_kept_baseline():
    w = windows.Daily()
    windows.add(w, DAY, 1, "total", 9, 2)
    w.base_for, w.base = DAY, (1.0, 1.0, 0.0)
    windows.add(w, DAY, 2, "delta", 9, 2)  # the judged day itself: not part of its baseline
    assert w.base_for == DAY
    windows.add(w, DAY - 1, 2, "total", 9, 2)  # a day of its history
    assert w.base_for == 0


def test_day_is_computed_in_the_rule_timezone():
    from datetime import datetime

    late_utc = datetime(2024, 11, 13, 17, 0, tzinfo=UTC)  # 01:00 on the 14th in Shanghai
    assert windows.day_of(late_utc, ZoneInfo("Asia/Shanghai")) == DAY
    assert windows.day_of(late_utc, ZoneInfo("UTC")) == DAY - 1


# -- the rule through the engine (same code as the worker) ---------------


def metric(day: int, value: float, mode: str = "total", hour: int = 0, app: str = "doubao"):
    return validate(
        dict(
            event_id=f"{app}{day}{hour}{mode}",
            type="app.metric",
            source="t",
            ts=f"2024-11-{day:02d}T{hour:02d}:00:00+08:00",
            app_id=app,
            platform="all",
            country="cn",
            metric="downloads",
            value=value,
            period="day",
            mode=mode,
        )
    )


def engine() -> Engine:
    return Engine(RuleSet(rules=[SpikeRule(name="download-spike", kind="spike")]))


def test_delta_fires_when_the_running_total_crosses_and_once_per_day():
    e, state = engine(), {}
    for d in range(1, 8):
        assert e.process(metric(d, 800_000), state) == []
    fired = [e.process(metric(8, 300_000, "delta", h), state) for h in range(10)]
    hours = [h for h, alerts in enumerate(fired) if alerts]
    assert hours == [5]  # 6 x 300k = 1.8M >= 1.6M; later deltas do not fire again
    (alert,) = fired[5]
    assert alert.value == 1_800_000 and alert.baseline == 800_000
    assert alert.window_start == "2024-11-08T00:00:00+08:00"
    assert alert.window_end == "2024-11-09T00:00:00+08:00"


def test_alert_id_is_stable_per_rule_series_and_day():
    def run():
        e, state = engine(), {}
        for d in range(1, 8):
            e.process(metric(d, 1000), state)
        return e.process(metric(8, 5000), state)[0].alert_id

    assert run() == run()


def test_late_event_updates_its_day_and_is_marked():
    e, state = engine(), {}
    for d in (1, 2, 3, 4, 5, 6, 7, 9):
        e.process(metric(d, 1000), state)
    (alert,) = e.process(metric(8, 5000), state)  # a day earlier than the newest seen
    assert alert.late and alert.window_start.startswith("2024-11-08")


def test_events_older_than_the_window_are_reported():
    dropped = []
    e, state = Engine(RuleSet(rules=[SpikeRule(name="s", kind="spike")]), on_too_late=dropped.append), {}
    e.process(metric(20, 1000), state)
    assert e.process(metric(17, 9999), state) == [] and len(dropped) == 1  # 3 days > 2 allowed


def test_series_are_independent():
    e, state = engine(), {}
    for d in range(1, 8):
        e.process(metric(d, 1000), state)
        e.process(metric(d, 1000, app="kimi"), state)
    assert e.process(metric(8, 1500, app="kimi"), state) == []
    assert len(e.process(metric(8, 2000), state)) == 1


# -- the weekday baseline: the same weekday in the previous weeks --------------------------

WEEKLY = SpikeParams(baseline="weekday", weeks=4)


def test_the_weekday_baseline_reads_the_same_weekday_only():
    assert WEEKLY.offsets == (28, 21, 14, 7)
    assert WEEKLY.needed == 4  # every day of a history shorter than 5
    assert WEEKLY.method == "the median of the same weekday over 4 weeks"
    assert P.method == "the 7-day median"


@given(
    weekday=st.floats(min_value=1_000, max_value=1e8, allow_nan=False),
    weekend=st.floats(min_value=1.0, max_value=5.0),
    weeks=st.integers(1, 13),
)
def test_a_weekly_rhythm_never_fires_against_the_weekday_baseline(weekday, weekend, weeks):
    """Saturdays at up to 5x the weekdays: a steady weekly rhythm. Against the same weekday
    no day of it fires; the trailing median fires on the first weekend day when the lift is
    at least ``ratio``."""
    p = SpikeParams(baseline="weekday", weeks=weeks)
    trailing = SpikeParams()
    w = windows.Daily()
    start = date(2024, 1, 1).toordinal()  # a Monday
    fired = {"weekday": [], "trailing": []}
    for d in range(start, start + 7 * (weeks + 3)):
        value = weekday * (weekend if date.fromordinal(d).weekday() >= 5 else 1.0)
        windows.add(w, d, value, "total", 7 * weeks + 2, 2)
        for name, params in (("weekday", p), ("trailing", trailing)):
            if detect(value, windows.history(w, d, params.offsets), params) is not None:
                fired[name].append(d)
    assert fired["weekday"] == []
    assert bool(fired["trailing"]) == (weekend >= 2.0)


def test_a_weekday_baseline_needs_its_days():
    with pytest.raises(ValueError, match=r"min_history \(5\) exceeds the 4 days of the median of the same weekday"):
        SpikeParams(baseline="weekday", weeks=4, min_history=5)


def test_the_engine_judges_a_weekday_rule_against_the_same_weekdays_and_says_so():
    rule = SpikeRule(
        name="weekly",
        kind="spike",
        params=SpikeParams(baseline="weekday", weeks=2),
        summary="{method}: {baseline:,.0f}",
    )
    e, state = Engine(RuleSet(rules=[rule])), {}
    fired = []
    for d in range(1, 31):  # November 2024: weekends at 3x, a true spike on Wednesday the 27th
        weekend = date(2024, 11, d).weekday() >= 5
        fired += e.process(metric(d, 5_000_000 if d == 27 else 3_000_000 if weekend else 1_000_000), state)
    # the first weekend is judged on the trailing median (fewer than 2 Saturdays yet): it fires
    assert [a.window_start[:10] for a in fired] == ["2024-11-09", "2024-11-10", "2024-11-27"]
    assert fired[0].baseline_method == "the 7-day median"
    alert = fired[-1]
    assert alert.baseline == 1_000_000 and alert.threshold == 2_000_000
    assert alert.baseline_method == "the median of the last 2 Wednesdays"
    assert alert.summary == "the median of the last 2 Wednesdays: 1,000,000"
