"""The engine as backtest runs it: every kind through ``process``, correlation, deadman clock."""

from core.events import validate
from core.yamlfile import parse
from streams.engine import Engine
from streams.rules import RuleSet

COMPANIES = {"doubao": "ByteDance", "kimi": "Moonshot AI", "tongyi": "Alibaba"}


def engine(yaml_rules: str) -> Engine:
    return Engine(parse(yaml_rules, RuleSet), COMPANIES)


def metric(day, value, app="doubao", metric="downloads", hour=0, source="t", mode="total"):
    return validate(
        dict(
            event_id=f"{app}{metric}{day}{hour}",
            type="app.metric",
            source=source,
            ts=f"2024-11-{day:02d}T{hour:02d}:00:00+08:00",
            app_id=app,
            platform="all",
            country="cn",
            metric=metric,
            value=value,
            period="day",
            mode=mode,
        )
    )


def rank_ev(day, app, rank):
    return validate(
        dict(
            event_id=f"r{day}{app}",
            type="app.rank",
            source="charts",
            ts=f"2024-11-{day:02d}T09:00:00+08:00",
            app_id=app,
            platform="ios",
            country="cn",
            chart="top-free",
            rank=rank,
        )
    )


def news(day, title, hour=10):
    return validate(
        dict(
            event_id=f"n{day}{hour}",
            type="news",
            source="feed",
            ts=f"2024-11-{day:02d}T{hour:02d}:00:00+08:00",
            url=f"https://e.com/{day}",
            title=title,
        )
    )


def run(e, events):
    state, out = {}, []
    for ev in events:
        out += e.process(ev, state)
    return out + e.finish(state), state


def test_spike_carries_the_company_news_of_the_previous_seven_days():
    e = engine("rules: [{name: s, kind: spike}]")
    events = [metric(d, 1000) for d in range(1, 9)]
    events.insert(2, news(3, "ByteDance poaches Alibaba Tongyi lead"))  # 7 days before day 10? no: day 3
    events.append(news(9, "字节跳动发布豆包新版本"))
    events.append(news(9, "Moonshot AI raises $300M", hour=11))  # another company
    events.append(metric(10, 5000))
    alerts, _ = run(e, events)
    (spike,) = alerts
    assert [c["title"] for c in spike.context] == ["字节跳动发布豆包新版本", "ByteDance poaches Alibaba Tongyi lead"]


def test_news_older_than_seven_days_is_not_context():
    e = engine("rules: [{name: s, kind: spike}]")
    events = [news(1, "ByteDance hires"), *[metric(d, 1000) for d in range(2, 10)], metric(10, 5000)]
    (spike,), _ = run(e, events)
    assert spike.context == []


def test_rank_rules_through_the_engine():
    e = engine(
        "rules: [{name: one, kind: rank, params: {reached: 1}}, {name: top3, kind: rank, params: {entered_top: 3}}]"
    )
    events = [
        rank_ev(1, "doubao", 2),
        rank_ev(1, "kimi", 1),
        rank_ev(1, "tongyi", 5),
        rank_ev(2, "doubao", 1),
        rank_ev(2, "kimi", 2),
        rank_ev(2, "tongyi", 3),
    ]
    alerts, _ = run(e, events)
    assert [(a.rule, a.labels["app_id"], a.value, a.baseline) for a in alerts] == [
        ("one", "doubao", 1, 2),
        ("top3", "tongyi", 3, 5),
    ]
    assert alerts[0].labels == {
        "app_id": "doubao",
        "platform": "ios",
        "country": "cn",
        "chart": "top-free",
        "category": "all",
    }


def test_talent_news_labels():
    e = engine("rules: [{name: talent, kind: news_match, params: {kinds: [hire, dispute], companies: tracked}}]")
    alerts, _ = run(
        e,
        [
            news(13, "前通义千问工程师卓畅陷竞业纠纷，阿里申请仲裁"),
            news(14, "字节跳动挖角阿里通义千问技术负责人"),
            news(15, "Apple hires a designer"),
        ],
    )
    assert [a.labels["kind"] for a in alerts] == ["dispute", "hire"]
    assert alerts[1].labels["companies"] == "Alibaba,ByteDance"


def test_deadman_fires_on_event_time_and_resolves_when_the_source_returns():
    e = engine("rules: [{name: stale, kind: deadman, params: {for: 36h}, match: {source: quiet}}]")
    events = [
        metric(1, 1, source="quiet"),
        metric(2, 1, source="busy"),
        metric(3, 1, source="busy"),
        metric(4, 1, source="busy"),
        metric(4, 1, source="quiet", hour=5),
    ]
    alerts, _ = run(e, events)
    assert [(a.status, a.labels["source"]) for a in alerts] == [("firing", "quiet"), ("resolved", "quiet")]
    assert alerts[0].alert_id == alerts[1].alert_id
    assert 48 <= alerts[0].value < 49  # hours silent when the sweep saw it (day 3, event time)


def test_sweep_with_an_injected_wall_clock():
    e = engine("rules: [{name: stale, kind: deadman, params: {for: 1h}}]")
    state = {}
    e.seen(metric(1, 1, source="feed"), 1000.0, state)
    assert e.sweep(1000.0 + 3599, state) == []
    (alert,) = e.sweep(1000.0 + 3601, state)
    assert alert.status == "firing" and alert.labels == {"source": "feed"}
    assert e.sweep(1000.0 + 7200, state) == []  # still firing: not again
    (resolved,) = e.seen(metric(1, 1, source="feed"), 9000.0, state)
    assert resolved.status == "resolved"


def test_threshold_and_change_and_milestone_through_the_engine():
    e = engine("""
rules:
  - {name: low-dau, kind: threshold, params: {op: below, value: 100}, match: {metric: dau}}
  - {name: dod, kind: change, params: {pct: 100}}
  - {name: users, kind: milestone, params: {values: [1000, 2000]}, match: {metric: cumulative_users}}
""")
    events = [
        metric(1, 150, metric="dau"),
        metric(2, 90, metric="dau"),
        metric(3, 120, metric="dau"),
        metric(1, 1000),
        metric(2, 2100),
        metric(1, 900, metric="cumulative_users"),
        metric(2, 2500, metric="cumulative_users"),
    ]
    alerts, _ = run(e, events)
    assert [(a.rule, a.status, a.value) for a in alerts] == [
        ("low-dau", "firing", 90),
        ("low-dau", "resolved", 120),
        ("dod", "firing", 2100),
        ("users", "firing", 2500),
    ]
    assert alerts[3].labels["milestone"] == "2000"


def test_events_too_late_are_counted_not_alerted():
    late = []
    e = Engine(parse("rules: [{name: s, kind: spike}]", RuleSet), on_too_late=late.append)
    state = {}
    for d in range(1, 20):
        e.process(metric(d, 1000), state)
    assert e.process(metric(10, 99999), state) == [] and len(late) == 1


def test_change_on_a_running_day_judges_down_only_once_it_is_over():
    e = engine("rules: [{name: dod, kind: change, params: {pct: 50, direction: both}}]")
    events = [metric(1, 10000)]
    events += [metric(2, 400, hour=h, mode="delta") for h in range(10)]  # 4000 by the end: -60%
    assert run(e, events)[0] == []  # the first half-hour is not a -96% day
    events.append(metric(3, 100, mode="delta"))  # day 2 is over
    (alert,), _ = run(e, events)
    assert alert.window_start.startswith("2024-11-02") and round((alert.value / alert.baseline - 1) * 100) == -60
