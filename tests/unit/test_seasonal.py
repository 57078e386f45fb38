"""The seasonal baseline's fit: properties (hypothesis) and an example through the engine."""

from __future__ import annotations

import random
from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from core import yamlfile
from streams.detectors import seasonal
from streams.engine import Engine
from streams.rules import RuleSet
from tests.unit.test_spike import metric

MONDAY = date(2024, 1, 1).toordinal()


def pattern(factors: list[float], level: float, weeks: int, noise: float, seed: int) -> list[tuple[int, float]]:
    rng = random.Random(seed)
    days = range(MONDAY, MONDAY + 7 * weeks)
    return [(d, level * factors[(d - MONDAY) % 7] * rng.uniform(1 - noise, 1 + noise)) for d in days]


@given(
    factors=st.lists(st.floats(0.5, 2.5), min_size=7, max_size=7),
    level=st.floats(1e3, 1e8),
    weeks=st.integers(3, 12),
    seed=st.integers(0, 10**6),
)
def test_a_weekly_pattern_is_expected_and_its_band_stays_narrow(factors, level, weeks, seed):
    history = pattern(factors, level, weeks, 0.05, seed)
    day = MONDAY + 7 * weeks + seed % 7  # any weekday of the next week
    fit = seasonal.fit(history, day, mads=4.0)
    true = level * factors[(day - MONDAY) % 7]
    assert abs(fit.expected / true - 1) < 0.12  # within the noise, robustly
    assert 1.0 <= fit.band < 1.5  # 5 % noise: a narrow band, far below a 2x spike


def test_too_few_days_is_no_fit_and_the_rule_falls_back_to_the_trailing_median():
    assert seasonal.fit(pattern([1.0] * 7, 1e4, 1, 0.0, 1), MONDAY + 7, 4.0) is None
    rule = "rules: [{name: s, kind: spike, params: {baseline: seasonal, weeks: 4}}]"
    e, state = Engine(yamlfile.parse(rule, RuleSet)), {}
    fired = [a for d in range(1, 12) for a in e.process(metric(d, 3e6 if d == 11 else 1e6), state)]
    assert [(a.window_start[:10], a.baseline_method) for a in fired] == [("2024-11-11", "the 7-day median")]


def test_the_engine_judges_a_seasonal_rule_against_the_weekday_pattern():
    """November 2024: weekends at 2.5x, Wednesday the 27th at 3x its weekday: once fitted,
    only it fires."""
    rule = "rules: [{name: s, kind: spike, params: {baseline: seasonal, weeks: 3}}]"
    e, state = Engine(yamlfile.parse(rule, RuleSet)), {}
    fired = []
    for d in range(1, 31):
        weekend = date(2024, 11, d).weekday() >= 5
        fired += e.process(metric(d, 3e6 if d == 27 else 2.5e6 if weekend else 1e6), state)
    # the first two weekends come before the fit's 14 days: judged on the trailing median, they fire
    assert [a.window_start[:10] for a in fired] == ["2024-11-09", "2024-11-10", "2024-11-27"]
    assert fired[0].baseline_method == "the 7-day median"
    assert fired[-1].baseline == 1e6 and fired[-1].threshold == 2e6
    assert fired[-1].baseline_method == "the seasonal fit for a Wednesday (3 weeks, a 4-MAD band)"


def test_the_readme_quotes_the_fit_bench():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    r = json.loads((root / "bench" / "results" / "baseline_fit.json").read_text("utf-8"))
    readme = (root / "README.md").read_text("utf-8")
    assert f"{r['fits']['seasonal']['us_per_fit']} µs per series per day" in readme
    for kind in ("seasonal", "seasonal, 57 weeks"):
        assert r["fits"][kind]["us_per_fit"] < 1000, kind  # the bound: under 1 ms per series per day
    assert f"({r['fits']['seasonal, 57 weeks']['us_per_fit']} µs on 57 weeks" in readme
    longest = r["history"]["seasonal, 57 weeks"]
    assert longest["days_kept"] == 7 * 57 + 2 + 1  # its weeks, the lateness and the day itself
    assert f"{longest['record_bytes']:,} B ({longest['python_bytes']:,} B)" in readme


def test_a_year_long_seasonal_window_keeps_a_year_and_judges_against_it():
    """A 57-week seasonal rule over 420 days of weekends at 1.3x: its window keeps 402 days,
    nothing fires on the weekly rhythm, and a 3x Wednesday fires against the year's fit."""
    from datetime import timedelta

    rule = "rules: [{name: s, kind: spike, params: {baseline: seasonal, weeks: 57}}]"
    e, state = Engine(yamlfile.parse(rule, RuleSet)), {}
    first = date(2023, 9, 4)
    spike_day = first + timedelta(days=415)
    assert spike_day.weekday() == 2
    fired = []
    for ev in _series("doubao", first, 420, 1e6, {spike_day: 3.0}):
        fired += e.process(ev, state)
    w = state["series"]["doubao|all|cn|downloads"].rules["s"]
    assert len(w.totals) == 7 * 57 + 3
    late = [a for a in fired if a.baseline_method.startswith("the seasonal fit")]
    assert [a.window_start[:10] for a in late] == [spike_day.isoformat()]


def _series(app: str, first: date, days: int, level: float, special: dict[date, float]) -> list:
    """A CN app's daily totals, weekends at 1.3x, its ``special`` days at their factor."""
    from datetime import timedelta

    from core.events import validate
    from tests.unit.test_market import metric as day_total

    out = []
    for k in range(days):
        d = first + timedelta(days=k)
        value = level * (1.3 if d.weekday() >= 5 else 1.0) * special.get(d, 1.0) * (1 + 0.02 * ((k * 7919) % 5 - 2))
        out.append(validate(day_total(app, d, value)))
    return out


def test_a_seasonal_rule_learns_a_holiday_s_effect_from_last_year():
    """618 at 1.8x in 2024 (a commercial day: the band widens, nothing fires) is kept as
    its effect; in 2025 the day is expected at 1.8x its fit, so 1.8x is quiet and 3.9x
    fires, which a band widened 2x (4x) would have missed."""
    rule = "rules: [{name: s, kind: spike, params: {baseline: seasonal, weeks: 8, holidays: widen, holiday_around: 0}}]"
    start, n = date(2024, 4, 1), 450
    fired = {}
    for app, this_year in (("quiet", 1.8), ("loud", 3.9)):
        special = {date(2024, 6, 18): 1.8, date(2025, 6, 18): this_year}
        e, state = Engine(yamlfile.parse(rule, RuleSet)), {}
        fired[app] = [a for ev in _series(app, start, n, 1e6, special) for a in e.process(ev, state)]
        w = state["series"][f"{app}|all|cn|downloads"].rules["s"]
        assert abs(w.effects[date(2025, 6, 18).toordinal()] - this_year) < 0.1  # and this year's, for next year
    assert fired["quiet"] == []
    (alert,) = fired["loud"]
    assert alert.window_start.startswith("2025-06-18")
    assert "618's effect last year" in alert.baseline_method and "2024-06-18" in alert.baseline_method
    assert 1.7e6 < alert.baseline < 1.9e6
