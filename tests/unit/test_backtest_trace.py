"""What the report charts, from the detectors: fire lines, day views, the backtest's trace.

``spike.fire_line`` and ``change.bounds`` are where ``judge``/``detect`` start firing;
``engine.explain_day`` judges a day of a window as ``Engine._daily`` does; ``Engine.explain``
reads the state and changes nothing; ``backtest.Trace`` keeps it for the report.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import msgspec
import orjson
import pytest

from core.events import validate
from core.yamlfile import parse
from streams import backtest, windows
from streams.detectors import change, spike
from streams.detectors.change import ChangeParams
from streams.detectors.spike import SpikeParams
from streams.engine import Engine, explain_day
from streams.rules import RuleSet

CST = timezone(timedelta(hours=8))
RULES = parse(
    """
rules:
  - name: download-spike
    kind: spike
    match: {metric: downloads}
    params: {ratio: 2.0, baseline_days: 4, min_history: 3, min_baseline: 100}
  - name: drop
    kind: change
    match: {metric: downloads}
    params: {pct: 40, direction: down, min_baseline: 100}
  - name: dau-high
    kind: threshold
    match: {metric: dau}
    params: {value: 500}
  - name: top3
    kind: rank
    params: {entered_top: 3}
""",
    RuleSet,
    "<trace rules>",
)


def metric(day: int, value: float, mode: str = "total", hour: int = 0, metric: str = "downloads", n: int = 0) -> bytes:
    ts = (datetime(2024, 11, 1, tzinfo=CST) + timedelta(days=day, hours=hour)).isoformat()
    return orjson.dumps(
        dict(
            event_id=f"{metric}:{day}:{hour}:{n}",
            type="app.metric",
            source="t",
            ts=ts,
            app_id="doubao",
            platform="all",
            country="cn",
            metric=metric,
            value=value,
            period="day",
            mode=mode,
        )
    )


# -- the detectors' lines ---------------------------------------------------------------


@pytest.mark.parametrize(
    "params,b,line",
    [
        (dict(ratio=2.0), (1000.0, 0.0, 0.0), 2000.0),
        (dict(ratio=None, zscore=3.0), (1000.0, 1100.0, 50.0), 1250.0),
        (dict(ratio=1.5, zscore=3.0), (1000.0, 1100.0, 50.0), 1500.0),  # both: the higher
        (dict(ratio=3.0, zscore=3.0), (1000.0, 1100.0, 200.0), 3000.0),
        (dict(ratio=1.2, zscore=3.0), (1000.0, 1100.0, 200.0), 1700.0),
    ],
)
def test_spike_fire_line_is_where_judge_starts_firing(params, b, line):
    p = SpikeParams(**params)
    assert spike.fire_line(b, p) == pytest.approx(line)
    assert spike.judge(line * (1 + 1e-9), b, p) is not None
    assert spike.judge(line * (1 - 1e-9), b, p) is None
    assert spike.fire_line(None, p) is None  # no baseline: nothing fires


@pytest.mark.parametrize(
    "direction,before,up,down",
    [
        ("up", 1000.0, 1400.0, None),
        ("down", 1000.0, None, 600.0),
        ("both", 1000.0, 1400.0, 600.0),
        ("both", 999.0, None, None),  # below min_baseline
        ("both", None, None, None),  # no day to compare with
    ],
)
def test_change_bounds_are_where_detect_starts_firing(direction, before, up, down):
    p = ChangeParams(pct=40, direction=direction, min_baseline=1000)
    assert change.bounds(before, p) == (pytest.approx(up) if up else None, pytest.approx(down) if down else None)
    if up is not None:
        assert change.detect(up * (1 + 1e-9), before, p) is not None
        assert change.detect(up * (1 - 1e-9), before, p) is None
    if down is not None:
        assert change.detect(down * (1 - 1e-9), before, p) is not None
        assert change.detect(down * (1 + 1e-9), before, p) is None


def test_change_bound_below_is_none_when_no_value_can_fire():
    p = ChangeParams(pct=150, direction="both", min_baseline=10)
    up, down = change.bounds(100.0, p)
    assert up == pytest.approx(250.0) and down is None
    assert change.detect(0.0, 100.0, p) is None  # -100% is not a 150% drop


# -- explain_day and Engine.explain --------------------------------------------------


def test_explain_day_judges_as_the_engine_does():
    rule = RULES.rules[0]
    w = windows.Daily()
    day0 = date(2024, 11, 1).toordinal()
    for i, v in enumerate([1000.0, 1200.0, 1100.0, 2500.0]):
        windows.add(w, day0 + i, v, "total", 10, 2)
    assert explain_day(rule, w, day0 + 2).baseline is None  # two days of history < min_history
    view = explain_day(rule, w, day0 + 3)
    assert (view.total, view.baseline, view.fire_at) == (2500.0, 1100.0, 2200.0)  # median of 3 days, x2
    assert view.ratio == pytest.approx(2500 / 1100)
    assert explain_day(rule, w, day0 + 9) is None  # a day the window does not hold
    drop = explain_day(RULES.rules[1], w, day0 + 3)
    assert (drop.baseline, drop.fire_at, drop.fire_below, drop.change) == (1100.0, None, pytest.approx(660.0), None)


def test_explain_reads_the_state_and_changes_nothing():
    engine, state = Engine(RULES), {}
    lines = [metric(d, v) for d, v in enumerate([1000, 1100, 900, 1000, 2600])]
    for line in lines:
        engine.process(validate(orjson.loads(line)), state)
    before = msgspec.msgpack.encode(state["series"])
    last = validate(orjson.loads(lines[-1]))
    got = {o.rule: o for o in engine.explain(last, state)}
    assert msgspec.msgpack.encode(state["series"]) == before
    assert set(got) == {"download-spike", "drop"}  # the rules that look at downloads
    assert got["download-spike"].day.baseline == 1000.0 and got["download-spike"].day.ratio == 2.6
    assert got["drop"].day.baseline == 1000.0 and got["drop"].day.fire_below == pytest.approx(600.0)
    assert got["download-spike"].series == "doubao|all|cn|downloads"


def test_explain_skips_what_the_series_refused():
    engine, state = Engine(RULES), {}
    for line in (metric(0, 1000), metric(30, 1000)):
        engine.process(validate(orjson.loads(line)), state)
    old = validate(orjson.loads(metric(1, 5000, n=1)))  # a month behind the newest: too late
    assert engine.process(old, state) == []
    assert engine.explain(old, state) == []


def test_explain_rank_is_the_rank_the_chart_took():
    engine, state = Engine(RULES), {}

    def rank(day: int, r: int, n: str = ""):
        return validate(
            dict(
                event_id=f"r{day}{n}",
                type="app.rank",
                source="t",
                ts=(datetime(2024, 11, 1, 9, tzinfo=CST) + timedelta(days=day)).isoformat(),
                app_id="kimi",
                platform="ios",
                country="cn",
                chart="top-free",
                rank=r,
            )
        )

    for ev in (rank(0, 5), rank(1, 2)):
        engine.process(ev, state)
    (seen,) = engine.explain(rank(1, 2), state)
    assert (seen.rule, seen.series, seen.value) == ("top3", "kimi|ios|cn|top-free|all", 2.0)
    stale = rank(0, 9, "x")  # older than what the chart holds for kimi: not taken
    engine.process(stale, state)
    assert engine.explain(stale, state) == []


# -- the trace --------------------------------------------------------------------------


def test_trace_days_fire_exactly_where_the_alerts_are():
    totals = [1000, 1100, 900, 1000, 2600, 1000, 500, 1050, 3000]
    lines = [metric(d, v) for d, v in enumerate(totals)]
    lines += [metric(d, 300 + 100 * d, metric="dau") for d in range(4)]
    result = backtest.run(lines, RULES)
    days = result.trace.days[("download-spike", "doubao|all|cn|downloads")]
    assert (
        [date.fromordinal(d).day for d, v in days.items() if v.fire_at and v.total >= v.fire_at]
        == sorted(int(a.window_start[8:10]) for a in result.alerts if a.rule == "download-spike")
        == [5, 9]
    )
    drops = result.trace.days[("drop", "doubao|all|cn|downloads")]
    assert (
        [date.fromordinal(d).day for d, v in drops.items() if v.change is not None]
        == [int(a.window_start[8:10]) for a in result.alerts if a.rule == "drop"]
        == [6, 7]
    )
    for a in result.alerts:
        if a.kind in ("spike", "change"):
            fired = result.trace.fired[a.alert_id]
            assert (fired.total, fired.baseline) == (a.value, a.baseline)
    points = result.trace.points[("dau-high", "doubao|all|cn|dau")]
    assert [v for _, v in points] == [300, 400, 500, 600]


def test_trace_leaves_out_repeats_and_keeps_a_delta_day_s_running_total():
    lines = [metric(d, 1000) for d in range(4)]
    lines += [metric(4, 700, "delta", hour=h, n=h) for h in (1, 2, 3)]
    lines.append(lines[-1])  # published twice
    result = backtest.run(lines, RULES)
    assert result.duplicates == 1
    (alert,) = [a for a in result.alerts if a.rule == "download-spike"]
    fired = result.trace.fired[alert.alert_id]
    assert (fired.total, fired.fire_at) == (2100.0, 2000.0)  # fired on its third delta
    last = result.trace.days[("download-spike", "doubao|all|cn|downloads")][fired.day]
    assert last.total == 2100.0  # the repeat was not added again
