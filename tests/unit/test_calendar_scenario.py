"""The two-year market-calendar scenario (``tests/scenarios/market_calendar.py``) through
the engine: the shipped pack (same weekday, each market's days, holidays widen, market-wide
moves), a seasonal-fit variant of it, and the trailing-median rule they replace."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from core import yamlfile
from core.events import validate
from streams import rules
from streams.engine import Engine
from streams.rules import RuleSet
from tests.scenarios import market_calendar as sc

ROOT = Path(__file__).resolve().parents[2]
TRAILING = """rules:
  - {name: download-spike, kind: spike, timezone: Asia/Shanghai,
     params: {ratio: 2.0, baseline: median, baseline_days: 7, min_history: 5, min_baseline: 1000}}
"""
SEASONAL = """rules:
  - {name: download-spike, kind: spike,
     params: {ratio: 2.0, baseline: seasonal, weeks: 8, band_mads: 4, min_baseline: 1000,
              holidays: widen, holiday_widen: 2.0, holiday_around: 2, market: {}}}
"""
ROWS = ("true spike", "holiday", "weekend", "market-wide day", "other day")


def run(ruleset: RuleSet) -> tuple[list, Counter, list]:
    """The (app, day) of each app's spike alert, how many fell on each kind of day in the
    scenario's two years (not its warm-up), and the market alerts as (market, day, alert)."""
    engine, state = Engine(ruleset), {}
    fired = [a for ev in sc.events() for a in engine.process(validate(ev), state)]
    assert {a.rule for a in fired} <= {"download-spike"}
    days = [(a.labels["app_id"], date.fromisoformat(a.window_start[:10])) for a in fired if a.kind == "spike"]
    markets = [(a.labels["country"], date.fromisoformat(a.window_start[:10]), a) for a in fired if a.kind == "market"]
    return days, Counter(sc.kind_of_day(app, d) for app, d in days if d >= sc.FIRST), markets


@pytest.fixture(scope="module")
def trailing():
    return run(yamlfile.parse(TRAILING, RuleSet))


@pytest.fixture(scope="module")
def shipped():
    return run(rules.load(None))


@pytest.fixture(scope="module")
def fitted():
    return run(yamlfile.parse(SEASONAL, RuleSet))


@pytest.mark.parametrize("pack", ["shipped", "fitted"])
def test_every_true_spike_fires_on_its_market_s_day_and_no_app_alert_on_holidays_weekends_or_the_market_day(
    pack, request
):
    days, kinds, _ = request.getfixturevalue(pack)
    assert sc.SPIKES <= set(days)
    assert kinds["holiday"] == kinds["weekend"] == kinds["other day"] == kinds["market-wide day"] == 0
    assert kinds["true spike"] == len(sc.SPIKES) == 7


@pytest.mark.parametrize("pack", ["shipped", "fitted"])
def test_the_market_wide_day_is_one_market_alert(pack, request):
    _, _, markets = request.getfixturevalue(pack)
    assert [(m, d) for m, d, _ in markets] == [sc.MARKET_DAY]
    alert = markets[0][2]
    cn = {app for app, (market, *_) in sc.APPS.items() if market == "cn"}
    assert set(alert.market_apps) == cn and "6 of 6 apps moved together" in alert.summary
    assert 2.2 <= min(alert.market_apps.values()) and "scope" in alert.labels and "app_id" not in alert.labels


def test_an_app_far_beyond_its_market_alerts_with_the_market_s_move_beside_it():
    engine, state = Engine(rules.load(None)), {}
    fired = [a for ev in sc.events() for a in engine.process(validate(ev), state)]
    (own,) = [a for a in fired if a.kind == "spike" and a.window_start.startswith("2025-03-20")]
    assert own.labels["app_id"] == "deepseek" and own.market_ratio == pytest.approx(2.4, abs=0.1)
    assert own.summary.endswith(f"; its market {own.market_ratio:.1f}x")


def test_the_trailing_median_fires_on_holidays_weekends_and_dates_us_spikes_a_day_late(trailing):
    days, kinds, markets = trailing
    us = {(app, d) for app, d in sc.SPIKES if sc.APPS[app][0] == "us"}
    late = {(app, date.fromordinal(d.toordinal() + 1)) for app, d in us}
    assert late <= set(days) and not us & set(days)  # cut in Shanghai: the next day
    assert kinds["true spike"] == len(sc.SPIKES) - len(us) == 5
    assert kinds["holiday"] > 20 and kinds["weekend"] > 100 and kinds["market-wide day"] == 5 and not markets


def test_the_readme_shows_them_side_by_side(trailing, shipped, fitted):
    readme = (ROOT / "README.md").read_text("utf-8")
    for row in ROWS:
        assert f"| {row} | {trailing[1][row]} | {shipped[1][row]} | {fitted[1][row]} |" in readme, row
    counts = [len(pack[2]) for pack in (trailing, shipped, fitted)]
    assert "| market alerts | {} | {} | {} |".format(*counts) in readme
