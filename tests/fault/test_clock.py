"""Time faults: events out of order, late beyond a rule's lateness, from the far future,
and daily windows across daylight-saving changes.

Mostly pure engine tests (``Engine.metric``, the worker's detect path, with a dict for
state), then one test through the real worker: out of order, late, too late and far
future events of one series, with the ledger from the engine.

What is documented (README, "Rules"): daily windows close in the rule's ``timezone``;
events up to ``allowed_lateness_days`` behind the newest day still update their day and
can fire, marked ``"late": true``; older ones are counted in
``appwatch_events_too_late_total`` and do not alert. Not documented, decided here: an
event whose ``ts`` is more than a day (``streams.engine.MAX_AHEAD_SECONDS``) after it
entered Kafka is refused and counted in ``appwatch_events_ahead_total``; before, one such event became its
series' newest day and made every real event after it "too late", for good.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.publish import Publisher
from core.alert import alert_id
from core.events import validate
from core.yamlfile import parse
from streams import engine as engine_mod
from streams import windows
from streams.engine import Engine
from streams.rules import RuleSet
from tests.conftest import wait_until
from tests.fault.harness import day, expected_alerts, metric
from tests.fault.report import Ledger, alert_key, recorder

pytestmark = pytest.mark.timeout(60)  # each test; the worker test sets its own
NY = ZoneInfo("America/New_York")
SPIKE = "rules: [{name: s, kind: spike, match: {type: app.metric, metric: downloads}}]"


def engine(yaml_rules: str = SPIKE, **kw) -> Engine:
    return Engine(parse(yaml_rules, RuleSet), **kw)


def feed(e: Engine, events, state=None, observed_at=None):
    state = {} if state is None else state
    out = []
    for ev in events:
        out += e.metric(ev, state, observed_at=observed_at)
    return out, state


def days(state, rule: str = "s", series: str = "app|all|cn|downloads") -> dict[str, float]:
    """A rule's daily totals of one series, by ISO date."""
    return {date.fromordinal(d).isoformat(): v for d, v in windows.items(state[series].rules[rule])}


def ids(alerts) -> set[str]:
    return {f"msg_{a.alert_id}_{a.status}" for a in alerts}


def spike_id(rule: str, app: str, window_start: str, country: str = "cn") -> str:
    """The webhook-id a spike alert must have, from its definition (not from the engine)."""
    labels = {"app_id": app, "platform": "all", "country": country, "metric": "downloads"}
    return f"msg_{alert_id(rule, labels, window_start)}_firing"


def engine_ledger(expected: set[str], alerts) -> Ledger:
    ledger = Ledger(expected)
    for a in alerts:
        ledger.saw(f"msg_{a.alert_id}_{a.status}", accepted=True, key=alert_key(a.model_dump(mode="json")))
    return ledger


# -- (a) out of order ------------------------------------------------------------------


@st.composite
def shuffled_series(draw):
    """A noisy flat series with one clear spike day (as a total or as deltas), and an
    arrival order in which no event comes more than 2 days (the default lateness) after
    a newer day's event."""
    rnd = draw(st.randoms(use_true_random=False))
    n = draw(st.integers(8, 16))
    spike_day = draw(st.integers(8, n))
    parts = draw(st.integers(1, 4))
    level = draw(st.sampled_from([5_000, 80_000, 800_000]))
    events = []
    for d in range(1, n + 1):
        if d == spike_day:
            events += [day("app", d, level * 3 / parts, hour=h, mode="delta") for h in range(parts)]
        else:
            events.append(day("app", d, level * rnd.uniform(0.9, 1.1)))
    late = draw(st.floats(0, 2.99))  # keys < 3 apart: an event comes after at most 2 newer days
    arrival = sorted(events, key=lambda ev: ev.ts.day + rnd.uniform(0, late))
    return events, arrival


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shuffled_series())
def test_reordering_within_the_lateness_fires_the_same_alerts(series):
    in_order, shuffled = series
    too_late = []
    want, _ = feed(engine(), in_order)
    got, state = feed(engine(on_too_late=too_late.append), shuffled)
    assert too_late == []
    assert len(want) == 1 and ids(got) == ids(want)  # the same alert: rule, series, day
    assert days(state) == pytest.approx(days(feed(engine(), in_order)[1]))  # every day sums to the same total


def test_deltas_of_a_day_in_any_order_sum_and_fire_once(request):
    history = [day("app", d, 100_000) for d in range(1, 8)]
    deltas = [day("app", 8, v, hour=h, mode="delta") for h, v in enumerate([50_000] * 4 + [120_000] * 4)]
    want = spike_id("s", "app", "2024-11-08T00:00:00+08:00")
    for seed in range(20):
        order = deltas[:]
        random.Random(seed).shuffle(order)
        got, state = feed(engine(), history + order)
        ledger = engine_ledger({want}, got)
        assert ledger.missing_ids == set() and ledger.unexpected_ids == set() and ledger.raw_repeats == 0
        assert days(state)["2024-11-08"] == 680_000
    recorder(request)(
        "out of order: one day's deltas shuffled (engine, 20 orders, the last)",
        events_in=len(history) + len(deltas),
        ledger=ledger,
        receiver="engine",
    )


# -- (b) late beyond the rule's lateness ---------------------------------------------------


def test_late_within_the_lateness_fires_marked_late_and_beyond_it_is_counted():
    too_late = []
    e = engine(on_too_late=too_late.append)
    history = [day("app", d, 100_000) for d in range(1, 8)] + [day("app", 10, 100_000)]
    _, state = feed(e, history)
    before = dict(days(state))

    # day 7 is 3 days behind day 10: beyond allowed_lateness_days (2): counted, no alert,
    # the day keeps its value
    assert feed(e, [day("app", 7, 900_000)], state)[0] == [] and len(too_late) == 1
    assert days(state) == before
    # day 8 is 2 days behind: it updates its day and fires, marked late, on its own window
    (alert,), _ = feed(e, [day("app", 8, 300_000)], state)
    assert alert.late is True and len(too_late) == 1
    assert (alert.window_start, alert.window_end) == ("2024-11-08T00:00:00+08:00", "2024-11-09T00:00:00+08:00")
    assert alert.value == 300_000 and alert.baseline == 100_000


def test_a_rule_with_no_lateness_takes_nothing_from_yesterday():
    too_late = []
    e = engine("rules: [{name: s, kind: spike, params: {allowed_lateness_days: 0}}]", on_too_late=too_late.append)
    _, state = feed(e, [day("app", d, 100_000) for d in range(1, 9)])
    assert feed(e, [day("app", 7, 900_000)], state)[0] == [] and len(too_late) == 1
    assert len(feed(e, [day("app", 8, 300_000)], state)[0]) == 1  # today still fires


def test_an_event_too_late_for_two_rules_is_counted_once():
    """Regression: ``appwatch_events_too_late_total`` counts events; it counted one per
    daily rule that found the event too old."""
    too_late = []
    e = engine(
        "rules: [{name: s, kind: spike}, {name: c, kind: change, params: {pct: 50}}]", on_too_late=too_late.append
    )
    _, state = feed(e, [day("app", d, 100_000) for d in range(1, 12)])
    assert feed(e, [day("app", 1, 5)], state)[0] == []
    assert [ev.event_id for ev in too_late] == [day("app", 1, 5).event_id]


# -- (c) far in the future -----------------------------------------------------------------


def test_an_event_from_the_far_future_is_refused_and_does_not_poison_the_series(request):
    """Regression: one event dated 2099 became the series' newest day; the real days fell
    out of the window and every real event after it was "too late": no alert ever again."""
    now = datetime(2024, 11, 8, 12, tzinfo=UTC).timestamp()  # when they enter Kafka
    too_late, ahead = [], []
    e = engine(on_too_late=too_late.append, on_ahead=ahead.append)
    _, state = feed(e, [day("app", d, 100_000) for d in range(1, 8)], observed_at=now)
    before = {k: days(state, "s", k) for k in state}
    future = metric("app", "2099-01-01T00:00:00+08:00", 100_000)
    assert feed(e, [future], state, observed_at=now)[0] == []
    assert ahead == [future] and too_late == [] and e.evaluations["s"] == 7  # refused before any rule
    assert {k: days(state, "s", k) for k in state} == before
    got, _ = feed(e, [day("app", 8, 300_000)], state, observed_at=now)
    ledger = engine_ledger({spike_id("s", "app", "2024-11-08T00:00:00+08:00")}, got)
    recorder(request)("far-future event (2099) in a series (engine)", events_in=9, ledger=ledger, receiver="engine")
    assert ledger.missing_ids == set() and ledger.unexpected_ids == set()
    assert not got[0].late


def test_the_future_allows_a_day_of_clock_skew_and_counts_as_too_late_without_its_own_counter():
    now = datetime(2024, 11, 8, 12, tzinfo=UTC).timestamp()
    too_late = []
    e = engine(on_too_late=too_late.append)
    skewed = metric("app", datetime.fromtimestamp(now + engine_mod.MAX_AHEAD_SECONDS - 60, UTC).isoformat(), 1)
    beyond = metric("app", datetime.fromtimestamp(now + engine_mod.MAX_AHEAD_SECONDS + 60, UTC).isoformat(), 1)
    _, state = feed(e, [skewed], observed_at=now)
    assert state and too_late == []  # folded into its day
    assert feed(e, [beyond], state, observed_at=now)[0] == [] and too_late == [beyond]
    # backtest has no arrival time: it takes ts as given
    _, state = feed(engine(), [beyond])
    assert state


def test_a_chart_snapshot_or_news_from_the_future_is_refused():
    now = datetime(2024, 11, 8, 12, tzinfo=UTC).timestamp()
    e = engine("rules: [{name: one, kind: rank, params: {reached: 1}}]")

    def rank(ts, r):
        return validate(
            dict(
                event_id=f"r{ts}",
                type="app.rank",
                source="charts",
                ts=ts,
                app_id="doubao",
                platform="ios",
                country="cn",
                chart="top-free",
                rank=r,
            )
        )

    state: dict = {}
    assert e.rank(rank("2024-11-07T09:00:00+08:00", 2), state, now) == []
    assert e.rank(rank("2099-01-01T09:00:00+08:00", 5), state, now) == []
    (moved,) = e.rank(rank("2024-11-08T09:00:00+08:00", 1), state, now)  # not "older" than 2099
    assert moved.value == 1 and moved.baseline == 2

    def news(ts, title):
        return validate(dict(event_id=f"n{ts}", type="news", source="feed", ts=ts, url="https://e.com/x", title=title))

    e = engine("rules: [{name: s, kind: spike}]", companies={"doubao": "ByteDance"})
    control: dict = {}
    e.news(news("2024-11-07T10:00:00+08:00", "ByteDance hires a Tongyi lead"), control, now)
    e.news(news("2099-01-01T10:00:00+08:00", "ByteDance from the future"), control, now)
    assert [i["title"] for i in control["news|ByteDance"]] == ["ByteDance hires a Tongyi lead"]


# -- (d) daylight saving: America/New_York ----------------------------------------------------

NY_SPIKE = "rules: [{name: ny, kind: spike, timezone: America/New_York, match: {type: app.metric, metric: downloads}}]"


def hourly(start_utc: datetime, end_utc: datetime, per_hour, country="us"):
    """One delta event per UTC hour; ``per_hour(t)`` gives its value."""
    out, t = [], start_utc
    while t < end_utc:
        out.append(metric("nyapp", t.isoformat(), per_hour(t), mode="delta", country=country))
        t += timedelta(hours=1)
    return out


def local_midnight(iso: str) -> bool:
    t = datetime.fromisoformat(iso).astimezone(NY)
    return (t.hour, t.minute, t.second) == (0, 0, 0)


@pytest.mark.parametrize(
    "change,hours,offsets",
    [
        ("2024-03-10", 23, ("-05:00", "-04:00")),  # spring forward: 02:00 EST -> 03:00 EDT
        ("2024-11-03", 25, ("-04:00", "-05:00")),  # fall back: 02:00 EDT -> 01:00 EST
    ],
)
def test_a_dst_day_sums_its_own_hours_and_its_window_is_local_midnights(change, hours, offsets, request):
    changed = datetime.fromisoformat(change).date()
    first = datetime.combine(changed - timedelta(days=8), datetime.min.time(), NY).astimezone(UTC)
    last = datetime.combine(changed + timedelta(days=2), datetime.min.time(), NY).astimezone(UTC)
    start = datetime.combine(changed, datetime.min.time(), NY)

    def per_hour(t):  # 100 an hour; 300 an hour on the day of the change
        return 300.0 if t.astimezone(NY).date() == changed else 100.0

    events = hourly(first, last, per_hour)
    alerts, state = feed(engine(NY_SPIKE), events)
    totals = days(state, "ny", "nyapp|all|us|downloads")
    assert totals[change] == 300 * hours  # 23 or 25 hours, not 24
    assert totals[(changed - timedelta(days=1)).isoformat()] == 2400
    assert totals[(changed + timedelta(days=1)).isoformat()] == 2400
    (alert,) = alerts
    assert alert.window_start == f"{change}T00:00:00{offsets[0]}"
    assert alert.window_end == f"{(changed + timedelta(days=1)).isoformat()}T00:00:00{offsets[1]}"
    assert local_midnight(alert.window_start) and local_midnight(alert.window_end)
    span = datetime.fromisoformat(alert.window_end) - datetime.fromisoformat(alert.window_start)
    assert span == timedelta(hours=hours)
    # a delta day fires as soon as its running total reaches 2 x the 2400 baseline: the
    # 16th hour after local midnight, counted in real hours across the change
    assert alert.value == 4800 and alert.baseline == 2400
    fired_at = datetime.fromisoformat(alert.event_ts)
    assert fired_at - start.astimezone(UTC) == timedelta(hours=15)
    ledger = engine_ledger({spike_id("ny", "nyapp", f"{change}T00:00:00{offsets[0]}", "us")}, alerts)
    recorder(request)(
        f"DST {change}: a {hours} h day in America/New_York (engine)",
        events_in=len(events),
        ledger=ledger,
        receiver="engine",
    )
    assert ledger.missing_ids == set() and ledger.unexpected_ids == set()


def test_the_same_instants_make_different_days_in_different_zones():
    """Control for the DST tests: the NY rule's days are not UTC's or Shanghai's, and a rule
    without ``timezone:`` cuts a US series' days in New York (the market's zone)."""
    first = datetime(2024, 3, 2, tzinfo=UTC)
    events = hourly(first, first + timedelta(days=10), lambda t: 100.0)
    sh = "rules: [{name: sh, kind: spike, timezone: Asia/Shanghai}]"
    market = "rules: [{name: market, kind: spike}]"
    _, ny_state = feed(engine(NY_SPIKE), events)
    _, sh_state = feed(engine(sh), events)
    _, market_state = feed(engine(market), events)
    assert days(ny_state, "ny", "nyapp|all|us|downloads")["2024-03-10"] == 2300
    assert days(sh_state, "sh", "nyapp|all|us|downloads")["2024-03-10"] == 2400  # no DST in Shanghai
    assert days(market_state, "market", "nyapp|all|us|downloads") == days(ny_state, "ny", "nyapp|all|us|downloads")


# -- through the real worker: out of order, late, too late and far future -------------------


@pytest.mark.integration
@pytest.mark.timeout(180)
def test_worker_handles_out_of_order_late_and_future_events(broker, topics, hooks, start_worker, request):
    rec = recorder(request)
    w = start_worker(topics, APPWATCH_WEBHOOK_URL=hooks.url, APPWATCH_WEBHOOK_SECRET=hooks.secret)
    events = [
        *(day("shuffled", d, 100_000) for d in (1, 2, 3, 5, 4, 6)),
        day("shuffled", 8, 300_000),  # before day 7: judged on days 1-6, fires
        day("shuffled", 7, 100_000),  # one day late: updates day 7, fires nothing
        *(day("latecomer", d, 100_000) for d in range(1, 8)),
        day("latecomer", 10, 100_000),  # days 8 and 9 still to come
        day("latecomer", 8, 100_000),  # 2 days late: allowed
        day("latecomer", 9, 500_000),  # 1 day late: fires, marked late (4x: 2 days before Singles' Day)
        day("latecomer", 3, 900_000),  # 7 days late: too late, counted, no alert
        metric("latecomer", "2099-01-01T00:00:00+08:00", 100_000),  # far future: refused, counted
        day("latecomer", 11, 500_000),  # the series still works: fires (4x on Singles' Day)
    ]
    arrival = time.time()
    expected = expected_alerts(events, arrival=arrival)
    want = expected.by_id()
    assert sorted((a.labels["app_id"], a.window_start[:10], a.late) for a in want.values()) == [
        ("latecomer", "2024-11-09", True),
        ("latecomer", "2024-11-11", False),
        ("shuffled", "2024-11-08", False),
    ]
    assert expected.too_late == 2
    with Publisher(broker, topics) as pub:
        pub.send_all(events)
        pub.flush()

    wait_until(
        lambda: w.metric("appwatch_rule_evaluations_total") >= sum(expected.evaluations.values()),
        60,
        "every event evaluated",
    )
    wait_until(
        lambda: w.metric("appwatch_notifications_total", receiver="webhook", outcome="sent") >= len(want),
        60,
        "every alert sent",
    )
    hooks.wait(lambda r: len(r) >= len(want), 30, "every alert at the receiver")
    got = hooks.verified()
    ledger = Ledger(set(want))
    for msg_id, payload in got:
        ledger.saw(msg_id, accepted=True, key=alert_key(payload["data"]))
    rec(
        "out of order, late, too late and far-future events (worker)",
        events_in=len(events),
        ledger=ledger,
        receiver="webhook",
    )

    assert ledger.missing_ids == set() and ledger.unexpected_ids == set() and ledger.duplicated == 0
    assert Counter(msg_id for msg_id, _ in got) == Counter(list(want))  # each once
    for msg_id, payload in got:
        alert, mine = payload["data"], want[msg_id]
        assert (alert["late"], alert["window_start"], alert["value"], alert["baseline"]) == (
            mine.late,
            mine.window_start,
            mine.value,
            mine.baseline,
        )
    # the engine's ledger counts the 2099 event as too late (no on_ahead there); the worker
    # counts it apart, and keeps it out of the market gauges
    assert w.metric("appwatch_events_ahead_total") == 1
    assert w.metric("appwatch_events_too_late_total") == expected.too_late - 1
    assert w.metric("appwatch_events_total") == len(events)
    assert w.metric("appwatch_rule_evaluations_total", rule="download-spike") == expected.evaluations["download-spike"]
    assert w.metric("appwatch_alerts_total", rule="download-spike") == len(want)
    assert "refused: its ts 2099-01-01" in w.log.read_text()
