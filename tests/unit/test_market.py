"""Market-wide moves: the pure fold (``streams.detectors.market``), its glue in the engine
(``streams.marketwide``), the detect stage's moves and the control agent."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from appwatch.worker.detect import Detect
from core import yamlfile
from core.events import Topics, validate
from streams import marketwide, rewind
from streams.detectors import market
from streams.engine import Engine
from streams.metrics import StreamMetrics
from streams.rules import RuleSet
from streams.settings import Settings
from streams.stage import Record, Stage

P = market.MarketParams()
DAY = date(2024, 6, 3).toordinal()
CST = timezone(timedelta(hours=8))
RULES = """rules:
  - name: spike
    kind: spike
    match: {metric: downloads}
    params: {ratio: 2.0, baseline_days: 7, min_baseline: 100, market: {wait: 600}}
"""


def report(ratio: float) -> list:
    return [ratio, 1000 * ratio, 1000.0]


def add(s: dict, app: str, day: int, ratio: float, new: int = 1) -> None:
    """An app's day, as the detect stage sends it: a count, or the app that moved."""
    if ratio >= 2.0:
        market.add(s, day, new, 0.0, (app, report(ratio)))
    else:
        market.add(s, day, new, 0.0)


def state_with(days: dict[int, dict[str, float]]) -> dict:
    s = market.init()
    for day, apps in sorted(days.items()):
        for app, ratio in apps.items():
            add(s, app, day, ratio)
    return s


# -- the fold -------------------------------------------------------------------------


def test_a_day_is_ready_when_as_many_apps_reported_it_as_the_day_before():
    s = state_with({DAY - 1: {"a": 1.0, "b": 1.0, "c": 1.0}, DAY: {"a": 2.5, "b": 2.4}})
    assert market.members(s, DAY) == 3
    assert not market.ready(s, DAY, 0.0, P, now=10.0)
    assert market.ready(s, DAY, 0.0, P, now=P.wait)  # the wait is over
    add(s, "c", DAY, 2.3)
    assert market.ready(s, DAY, 0.0, P, now=20.0)


def test_a_later_day_makes_an_earlier_one_ready():
    s = state_with({DAY - 1: {"a": 1.0, "b": 1.0, "c": 1.0}, DAY: {"a": 2.5}})
    add(s, "b", DAY + 1, 1.0)
    assert market.ready(s, DAY, 0.0, P, now=5.0)


def test_a_move_needs_the_share_of_the_market_and_min_apps():
    five = state_with({DAY - 1: dict.fromkeys("abcde", 1.0), DAY: {"a": 2.4, "b": 2.6, "c": 2.2}})
    assert market.moved(five, DAY, P)  # 3 of 5 (d and e, of the day before, still to report)
    v = market.verdict(five, DAY)
    assert v.apps == 5 and v.median == 2.4 and set(v.movers) == {"a", "b", "c"}
    assert v.value == pytest.approx(7200) and v.baseline == 3000
    assert not market.moved(state_with({DAY: {"a": 2.4, "b": 2.6}}), DAY, P)  # below min_apps
    few = state_with({DAY - 1: dict.fromkeys("abcde", 1.0), DAY: {"a": 2.4, "b": 2.6}})
    assert not market.moved(few, DAY, P)  # 2 of 5 < 0.6


def test_an_app_that_moves_later_in_its_day_is_counted_once():
    s = state_with({DAY: {"a": 2.4, "b": 2.5, "c": 1.0}})
    add(s, "c", DAY, 2.2, new=0)  # reported before, it moved since
    assert market.members(s, DAY) == 3 and len(s["days"][DAY]["movers"]) == 3


def test_an_app_far_beyond_its_market_stands_out():
    v = market.verdict(state_with({DAY: {"a": 2.4, "b": 2.4, "c": 2.5}}), DAY)
    assert market.stands_out(3.6, v, P) and not market.stands_out(3.5, v, P)


def test_old_days_are_forgotten_and_judged_alone():
    s = state_with({DAY: {"a": 1.0}})
    add(s, "a", DAY + market.KEEP_DAYS + 1, 1.0)
    assert DAY not in s["days"]
    assert market.add(s, DAY, 1, 0.0) is None


@given(
    ratios=st.dictionaries(st.sampled_from("abcdefgh"), st.floats(min_value=0.1, max_value=10), min_size=1),
    seed=st.integers(0, 2**16),
)
def test_the_move_does_not_depend_on_the_order_of_the_apps(ratios, seed):
    shuffled = list(ratios.items())
    random.Random(seed).shuffle(shuffled)
    a, b = state_with({DAY: ratios}), state_with({DAY: dict(shuffled)})
    movers = {app for app, r in ratios.items() if r >= 2.0}
    expected = len(ratios) >= P.min_apps and len(movers) >= P.share * len(ratios)
    assert market.moved(a, DAY, P) == market.moved(b, DAY, P) == expected
    if movers:
        assert market.verdict(a, DAY) == market.verdict(b, DAY)


# -- through the engine ---------------------------------------------------------------


def metric(app: str, day: date, value: float, country: str = "cn") -> dict:
    return dict(
        event_id=f"{app}:{day}",
        type="app.metric",
        source="t",
        ts=datetime.combine(day, time(21), CST).isoformat(),
        app_id=app,
        platform="all",
        country=country,
        metric="downloads",
        value=value,
        period="day",
    )


def days_of(apps: dict[str, float], spike_day: dict[str, float], first=date(2024, 6, 1), n=10) -> list[dict]:
    """``n`` days of each app at its level; on the last day, each app times its factor."""
    out = []
    for k in range(n):
        day = first + timedelta(days=k)
        for app, level in apps.items():
            out.append(metric(app, day, level * (spike_day.get(app, 1.0) if k == n - 1 else 1.0)))
    return out


def backtest(events: list[dict], rules: str = RULES) -> tuple[list, dict]:
    engine, state = Engine(yamlfile.parse(rules, RuleSet)), {}
    return [a for ev in events for a in engine.process(validate(ev), state)], state


APPS = {"a": 1000.0, "b": 2000.0, "c": 3000.0, "d": 4000.0}


def test_one_app_moving_alone_alerts_as_usual():
    fired, state = backtest(days_of(APPS, {"b": 3.0}))
    assert [(a.kind, a.labels["app_id"]) for a in fired] == [("spike", "b")]
    assert "market_ratio" not in fired[0].model_dump()
    assert not [k for k in state if "market" in k]  # nothing waited: the control table is not written


def test_a_market_moving_together_is_one_market_alert_and_an_outlier_keeps_its_own():
    fired, _ = backtest(days_of(APPS, {"a": 2.5, "b": 2.4, "c": 2.6, "d": 6.0}))
    kinds = [(a.kind, a.labels.get("app_id")) for a in fired]
    assert kinds == [("market", None), ("spike", "d")]
    m, d = fired
    assert m.labels == {"country": "cn", "platform": "all", "metric": "downloads", "scope": "market"}
    assert set(m.market_apps) == {"a", "b", "c", "d"} and "4 of 4 apps moved together" in m.summary
    assert m.value == pytest.approx(2500 + 4800 + 7800 + 24000) and m.baseline == pytest.approx(10_000)
    assert d.market_ratio == pytest.approx(2.55) and d.summary.endswith("; its market 2.5x")
    again, _ = backtest(days_of(APPS, {"a": 2.5, "b": 2.4, "c": 2.6, "d": 6.0}))
    assert [a.alert_id for a in again] == [a.alert_id for a in fired]  # ids are stable


def test_an_alert_waits_for_its_market_then_the_sweep_lets_it_go():
    engine, control = Engine(yamlfile.parse(RULES, RuleSet)), {}
    series: dict = {}
    events = [validate(ev) for ev in days_of(APPS, {"a": 3.0})[:-3]]  # the last day: only "a" reports
    out = []
    for ev in events:
        out += engine.metric(ev, series)
        out += [a for m in engine.take_moves() for a in engine.market(m, control)]
    assert out == [] and control[marketwide.PENDING]
    orjson.dumps(control)  # JSON-able: it lives in a Faust table
    at = events[-1].epoch  # when its move arrived (backtest: its event time)
    assert engine.sweep(at + 599, control) == []
    (alert,) = engine.sweep(at + 600, control)
    assert alert.labels["app_id"] == "a" and not control


def test_a_held_alert_goes_as_it_is_when_the_rule_loses_market():
    engine, control = Engine(yamlfile.parse(RULES, RuleSet)), {}
    series: dict = {}
    for ev in days_of(APPS, {"a": 3.0})[:-3]:
        engine.metric(validate(ev), series)
        for m in engine.take_moves():
            engine.market(m, control)
    assert control[marketwide.PENDING]
    engine.rules = yamlfile.parse(RULES.replace(", market: {wait: 600}", ""), RuleSet).rules
    (alert,) = engine.sweep(0.0, control)
    assert alert.labels["app_id"] == "a"


def test_the_detect_stage_sends_moves_and_the_control_agent_judges_them():
    """The worker's path: the stage's control records (partitions apart) through
    ``Detect.control`` give what the backtest gives."""
    events = days_of(APPS, {"a": 2.5, "b": 2.4, "c": 2.6, "d": 6.0})
    settings = Settings()
    detect = Detect(settings, Topics("t."), StreamMetrics(CollectorRegistry()), rewind.Checks())
    detect.engine.rules = yamlfile.parse(RULES, RuleSet).rules
    stage = Stage(detect.engine, Topics("t."))
    batch = {}
    for offset, ev in enumerate(events):
        part = ord(ev["app_id"]) % 2  # a market's apps in different partitions
        at = int(validate(ev).epoch * 1000)  # it entered Kafka when it happened
        rec = Record("t.events.metrics", part, offset, at, None, orjson.dumps(ev))
        batch.setdefault(part, []).append(rec)
    out = stage.process(batch)
    records = [orjson.loads(v) for v in out.control]
    moves = [m for r in records for m in r.get("moves", ())]
    assert moves and not any("alert" in r for r in records)  # a market rule's alerts wait in moves
    assert sum(m.get("count", 0) for m in moves) == 4 * 10 - 4  # each app's day once; the movers with their alert
    assert sorted(m["app"] for m in moves if "alert" in m) == ["a", "b", "c", "d"]
    table: dict = {}
    fired = [a for r in records for a in detect.control(r, table)]
    expected, _ = backtest(events)
    assert sorted(a.alert_id for a in fired) == sorted(a.alert_id for a in expected)


def test_a_worker_that_takes_the_control_partition_over_lets_the_held_alerts_go():
    """The apps' days are soft state: a new worker has none, and finds what waits in the
    table (a key per held alert), then lets it go when its wait has passed."""
    engine, control, series = Engine(yamlfile.parse(RULES, RuleSet)), {}, {}
    events = [validate(ev) for ev in days_of(APPS, {"a": 3.0, "b": 3.0})[:-2]]  # c and d never report
    for ev in events:
        engine.metric(ev, series)
        for m in engine.take_moves():
            assert engine.market(m, control) == []
    held = sorted(k for k in control if k.count("|") == 6)
    assert [k.rsplit("|", 1)[1] for k in held] == ["a", "b"]
    other = Engine(yamlfile.parse(RULES, RuleSet))  # no soft state
    at = events[-1].epoch
    assert other.sweep(at + 1, control) == []
    fired = other.sweep(at + 600, control)
    assert sorted(a.labels["app_id"] for a in fired) == ["a", "b"] and not control
