"""Market calendars: public holidays (lunar too), commercial days, a rules file's own days,
and the spike rule's ``holidays: widen | last_year``. Dates here are written by hand."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import yamlfile
from core.calendar import Calendar, Day
from streams import windows
from streams.detectors import spike
from streams.detectors.spike import SpikeParams
from streams.engine import Engine, spike_basis
from streams.rules import RuleSet, SpikeRule
from tests.unit.test_spike import metric

CAL = Calendar()


def day(text: str) -> int:
    return date.fromisoformat(text).toordinal()


@pytest.mark.parametrize(
    ("country", "when", "name"),
    [
        ("cn", "2024-02-10", "Chinese New Year (Spring Festival)"),  # lunar: 10 Feb 2024, 29 Jan 2025
        ("cn", "2025-01-29", "Chinese New Year (Spring Festival)"),
        ("cn", "2024-10-01", "National Day"),
        ("cn", "2024-06-18", "618"),
        ("cn", "2024-11-11", "Singles' Day"),
        ("us", "2024-11-28", "Thanksgiving Day"),
        ("us", "2024-11-29", "Black Friday"),  # the day after Thanksgiving
        ("us", "2024-12-25", "Christmas Day"),
        ("jp", "2024-05-03", "Constitution Day"),
        ("kr", "2024-09-17", "Chuseok"),
        ("us", "2024-09-20", "iPhone 16 launch"),  # ww: every market
        ("cn", "2024-09-20", "iPhone 16 launch"),
    ],
)
def test_special_days_of_each_market(country, when, name):
    assert CAL.special(country, day(when)) == name


def test_ordinary_days_are_not_special_and_around_reaches_the_neighbours():
    assert CAL.special("cn", day("2024-03-13")) is None
    assert CAL.special("us", day("2024-02-10")) is None  # the Spring Festival is not a US holiday
    assert CAL.special("us", day("2024-12-24")) is None
    assert CAL.special("us", day("2024-12-24"), around=1) == "Christmas Day"


def test_the_same_special_day_last_year_counts_from_its_start():
    assert date.fromordinal(CAL.same_day_last_year("cn", day("2025-01-29"))) == date(2024, 2, 10)
    assert date.fromordinal(CAL.same_day_last_year("cn", day("2025-01-30"))) == date(2024, 2, 11)
    assert date.fromordinal(CAL.same_day_last_year("us", day("2025-11-28"))) == date(2024, 11, 29)  # Black Friday
    assert CAL.same_day_last_year("cn", day("2025-03-12")) is None


def test_a_rules_file_adds_its_own_days_and_a_bad_one_names_its_line():
    text = """calendar:
  - {market: cn, name: Doubao campaign, date: "2025-03-01", through: "2025-03-03"}
rules: [{name: s, kind: spike}]
"""
    cal = Calendar(yamlfile.parse(text, RuleSet).calendar)
    assert [cal.special("cn", day(d)) for d in ("2025-02-28", "2025-03-02", "2025-03-04")] == [
        None,
        "Doubao campaign",
        None,
    ]
    bad = text.replace('date: "2025-03-01", ', "")
    with pytest.raises(yamlfile.ConfigError, match=r"rules.yaml:2: calendar\[0\].*either date .* or after"):
        yamlfile.parse(bad, RuleSet, "rules.yaml")
    with pytest.raises(ValueError, match="not a date"):
        Day(market="cn", name="x", date="02-30")


def feed(params: SpikeParams, values: dict[int, float]):
    e, state = Engine(RuleSet(rules=[SpikeRule(name="s", kind="spike", params=params)])), {}
    return [a for d, v in sorted(values.items()) for a in e.process(metric(d, v), state)]


def test_singles_day_widens_the_band_and_the_alert_says_so():
    """November 2024 in cn: a flat 1M, then 2.5M on 11.11 and 2.5M on the 20th. ``ignore``
    fires on both; ``widen`` (x2, so 4x) only on the 20th."""
    days = {d: 1_000_000.0 for d in range(1, 25)}
    days[11] = days[20] = 2_500_000.0
    assert [a.window_start[:10] for a in feed(SpikeParams(), days)] == ["2024-11-11", "2024-11-20"]
    widened = feed(SpikeParams(holidays="widen", holiday_around=0), days)
    assert [a.window_start[:10] for a in widened] == ["2024-11-20"]
    days[11] = 4_500_000.0
    (holiday, _) = feed(SpikeParams(holidays="widen", holiday_around=0), days)
    assert holiday.threshold == 4_000_000.0
    assert holiday.baseline_method == "the 7-day median, band 2x wider for Singles' Day"


def test_last_year_judges_a_special_day_against_the_same_day_a_year_before():
    """Singles' Day lifted downloads to 1.2M in 2024 and to 3M in 2025 (1M on other days).
    ``last_year`` fires on 2025's (2.5x last year's); ``widen`` does not (3M < 2 x 2 x 1M)."""
    from datetime import timedelta

    from core.events import validate

    start = date(2024, 10, 1)
    values = {}
    for k in range(420):
        d = start + timedelta(days=k)
        values[d] = 1_200_000.0 if d == date(2024, 11, 11) else 3_000_000.0 if d == date(2025, 11, 11) else 1e6

    def run(params: SpikeParams):
        e, state = Engine(RuleSet(rules=[SpikeRule(name="s", kind="spike", params=params)])), {}
        out = []
        for d, v in values.items():
            ev = dict(event_id=f"e{d}", type="app.metric", source="t", ts=f"{d}T12:00:00+08:00", app_id="doubao")
            ev |= dict(platform="all", country="cn", metric="downloads", value=v, period="day")
            out += e.process(validate(ev), state)
        return out

    assert run(SpikeParams(holidays="widen", holiday_around=0)) == []
    (alert,) = run(SpikeParams(holidays="last_year", holiday_around=0))
    assert alert.window_start[:10] == "2025-11-11" and alert.baseline == 1_200_000.0
    assert alert.baseline_method == "Singles' Day last year (2024-11-11)"


def test_the_report_names_the_special_day_on_the_chart():
    from streams import backtest, report

    rules = yamlfile.parse("rules: [{name: s, kind: spike, params: {holidays: widen, holiday_around: 0}}]", RuleSet)
    lines = [metric(d, 4_500_000.0 if d == 11 else 1_000_000.0).model_dump_json() for d in range(1, 15)]
    result = backtest.run(lines, rules, {})
    assert [a.window_start[:10] for a in result.alerts] == ["2024-11-11"]
    page = report.render(result, rules, title="calendar")
    assert "2024-11-11: 4,500,000 · baseline 1M · fires at 4M · Singles&#39; Day</title>" in page  # HTML-escaped
    assert "2024-11-12: 1,000,000 · baseline 1M · fires at 2M</title>" in page


@given(
    st.lists(st.floats(1e3, 1e6), min_size=40, max_size=40),
    st.floats(0, 1e7),
    st.integers(0, 500),
    st.sampled_from(["median", "weekday", "mean"]),
)
def test_a_widen_only_rule_fires_with_the_calendar_only_where_it_fires_without(totals, value, offset, base):
    """The detect stage asks the calendar of a ``holidays: widen`` rule only when the day would
    fire without it (``SpikeParams.widen_only``): the calendar can raise the bar, never lower it."""
    rule = SpikeRule(
        name="s", kind="spike", params=SpikeParams(baseline=base, holidays="widen", holiday_around=2, zscore=3)
    )
    assert rule.params.widen_only
    today = day("2024-09-01") + offset  # Mid-Autumn, National Day, Singles' Day, the Spring Festival...
    w = windows.of({today - 40 + i: v for i, v in enumerate(totals)} | {today: value})
    b0, widen0, _ = spike_basis(rule, w, today, "cn", None, words=False)
    b1, widen1, _ = spike_basis(rule, w, today, "cn", CAL, words=False)
    assert b1 == b0 and widen1 >= widen0
    if spike.judge(value, b0, rule.params, widen0) is None:
        assert spike.judge(value, b1, rule.params, widen1) is None
    if today == day("2024-10-01"):
        assert widen1 == 2 * widen0


def test_on_national_day_the_calendar_widens_what_the_cheap_judgement_saw():
    rule = SpikeRule(name="s", kind="spike", params=SpikeParams(holidays="widen"))
    w = windows.of({day("2024-09-20") + i: 1e5 for i in range(11)} | {day("2024-10-01"): 3e5})
    b0, widen0, _ = spike_basis(rule, w, day("2024-10-01"), "cn", None, words=False)
    b1, widen1, _ = spike_basis(rule, w, day("2024-10-01"), "cn", CAL, words=False)
    assert (b0, widen0) == (b1, 1.0) and widen1 == 2.0
    assert spike.judge(3e5, b0, rule.params, widen0) is not None  # 3x: fires without the calendar
    assert spike.judge(3e5, b1, rule.params, widen1) is None  # not against the 4x of a holiday
