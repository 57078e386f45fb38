"""A threshold rule's ``for:`` runs on a timer, as in Prometheus: a breach fires once
``for`` has passed, whether or not another event comes to say so.

Regression: a pending breach fired only when a later event of its series arrived.
"""

from datetime import UTC, datetime, timedelta

import orjson

from core.events import validate
from core.yamlfile import parse
from streams import backtest
from streams.engine import Engine
from streams.rules import RuleSet

RULES = parse("rules: [{name: hot, kind: threshold, match: {metric: dau}, params: {value: 100, for: 1h}}]", RuleSet)
T0 = datetime(2024, 11, 14, 8, tzinfo=UTC)


def dau(value: float, minutes: float, app: str = "kimi"):
    ts = T0 + timedelta(minutes=minutes)
    return validate(
        dict(
            event_id=f"{app}:{minutes}",
            type="app.metric",
            source="t",
            ts=ts.isoformat(),
            app_id=app,
            platform="all",
            country="cn",
            metric="dau",
            value=value,
            period="day",
        )
    )


def test_the_timer_fires_a_breach_once_for_has_passed_with_no_event():
    e, state = Engine(RULES), {}
    assert e.metric(dau(150, 0), state, observed_at=T0.timestamp()) == []
    assert e.sweep_series({0: state}, T0.timestamp() + 3599) == []
    (alert,) = e.sweep_series({0: state}, T0.timestamp() + 3600)
    assert (alert.status, alert.window_start, alert.event_ts, alert.value) == (
        "firing",
        T0.isoformat(),
        (T0 + timedelta(hours=1)).isoformat(),
        150,
    )
    assert e.sweep_series({0: state}, T0.timestamp() + 7200) == []  # once
    (resolved,) = e.metric(dau(50, 180), state, observed_at=T0.timestamp() + 3 * 3600)
    assert (resolved.status, resolved.alert_id) == ("resolved", alert.alert_id)


def test_a_breach_whose_time_came_before_the_next_event_fires_then_resolves():
    """The sweep had not run yet when the next event (below the threshold) arrived."""
    e, state = Engine(RULES), {}
    e.metric(dau(150, 0), state, observed_at=T0.timestamp())
    fired, resolved = e.metric(dau(50, 120), state, observed_at=T0.timestamp() + 7200)
    assert (fired.status, resolved.status) == ("firing", "resolved") and fired.alert_id == resolved.alert_id
    assert fired.event_ts == (T0 + timedelta(hours=1)).isoformat()


def test_a_breach_that_ends_before_for_does_not_fire():
    e, state = Engine(RULES), {}
    e.metric(dau(150, 0), state, observed_at=T0.timestamp())
    assert e.metric(dau(50, 30), state, observed_at=T0.timestamp() + 1800) == []
    assert e.sweep_series({0: state}, T0.timestamp() + 7200) == []


def test_backtest_fires_a_breach_no_later_event_judged_by_the_last_event_time():
    lines = [dau(150, 0).to_json(), dau(10, 200, app="doubao").to_json()]  # another series moves time on
    (alert,) = backtest.run(lines, RULES).alerts
    assert alert.status == "firing" and alert.labels["app_id"] == "kimi"
    # a series' own later event decides first, whatever the other series' times
    lines = [dau(10, 200, app="doubao").to_json(), dau(150, 0).to_json(), dau(50, 30).to_json()]
    assert backtest.run(lines, RULES).alerts == []
    assert orjson.loads(lines[0])["app_id"] == "doubao"
