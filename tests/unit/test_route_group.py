"""Routing tree and grouping timings (Alertmanager semantics), with an injected clock."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.group import Grouper, routing_labels
from alerts.model import Alert, alert_id
from alerts.route import InhibitRule, Route, inhibited, match
from alerts.yamlfile import ConfigError, parse

TREE = """
receiver: all
group_by: [rule]
group_wait: 30s
group_interval: 5m
repeat_interval: 4h
routes:
  - matchers: ['app_id="doubao"']
    receiver: slack-market
    group_by: [rule, app_id]
    continue: true
    routes:
      - matchers: ['severity="critical"']
        receiver: pager
  - matchers: ['rule=~"talent-.*|org-change"']
    receiver: hr-news
    group_wait: 0s
  - matchers: ['country="cn"']
    receiver: china-desk
"""
ROOT = parse(TREE, Route)


def alert(app="doubao", rule="download-spike", severity="warning", status="firing", country="cn", day="14",
          resolves=True):
    labels = {"app_id": app, "country": country}
    return Alert(alert_id=alert_id(rule, labels, day), rule=rule, kind="spike", status=status, resolves=resolves,
                 severity=severity, labels=labels, event_ts=f"2024-11-{day}T00:00:00+08:00", summary="s")


def receivers(a):
    return [r.receiver for r in match(ROOT, routing_labels(a))]


def test_routing_depth_first_with_continue_and_inheritance():
    assert receivers(alert()) == ["slack-market", "china-desk"]  # continue: on to the next sibling
    assert receivers(alert(severity="critical")) == ["pager", "china-desk"]
    assert receivers(alert(app="kimi")) == ["china-desk"]
    assert receivers(alert(app="chatgpt", country="us")) == ["all"]  # nothing matched: the root
    assert receivers(alert(app="kimi", rule="talent-move")) == ["hr-news"]  # first match stops
    (pager, _) = match(ROOT, routing_labels(alert(severity="critical")))
    assert pager.group_by == ("rule", "app_id") and pager.group_wait == 30 and pager.repeat_interval == 4 * 3600
    (hr,) = match(ROOT, routing_labels(alert(app="kimi", rule="talent-move")))
    assert hr.group_wait == 0 and hr.group_by == ("rule",)


def test_route_config_errors_name_the_line():
    with pytest.raises(ConfigError, match=r"<t>:3: routes\[0\].matchers: Value error, bad matcher"):
        parse("receiver: a\nroutes:\n  - matchers: ['app_id~doubao']\n", Route, "<t>")


def test_inhibition():
    rule = InhibitRule(source_matchers=['severity="critical"'], target_matchers=['severity="warning"'],
                       equal=["app_id"])
    crit = routing_labels(alert(severity="critical"))
    assert inhibited(routing_labels(alert()), [crit], [rule])
    assert not inhibited(routing_labels(alert(app="kimi")), [crit], [rule])  # not equal on app_id
    assert not inhibited(crit, [crit], [rule])


def route_for(a):
    return match(ROOT, routing_labels(a))[0]  # slack-market: wait 30s, interval 5m, repeat 4h


def test_group_wait_then_group_interval_then_repeat():
    g, r = Grouper(), route_for(alert())
    g.add(alert(day="14"), r, now=0)
    assert g.due(29) == []
    (n,) = g.due(30)
    assert n.receiver == "slack-market" and len(n.alerts) == 1 and n.status == "firing"
    g.add(alert(day="15"), r, now=40)  # a second alert of the same group
    assert g.due(100) == [] and g.next_wakeup() == 330  # waits for group_interval
    (n2,) = g.due(330)
    assert len(n2.alerts) == 2 and n2.id != n.id
    assert g.due(630) == []  # nothing changed
    (rep,) = g.due(330 + 4 * 3600)  # repeat_interval
    assert rep.id == n2.id  # same content, same id


def test_resolved_is_sent_once_then_the_group_goes():
    g, r = Grouper(), route_for(alert())
    g.add(alert(), r, 0)
    g.due(30)
    g.add(alert(status="resolved"), r, 100)
    (n,) = g.due(330)
    assert n.status == "resolved" and [a.status for a in n.alerts] == ["resolved"]
    assert g.groups == {}


def test_a_one_off_alert_is_sent_once_and_never_repeats():
    g, r = Grouper(), route_for(alert())
    g.add(alert(day="14", resolves=False), r, 0)
    (n,) = g.due(30)
    assert [a.status for a in n.alerts] == ["firing"]
    assert g.groups == {}  # nothing kept: memory stays bounded however many spikes fire
    assert g.due(30 + 5 * 3600) == []
    g.add(alert(day="15", resolves=False), r, 40)  # the next one starts a new group
    (n2,) = g.due(70)
    assert [a.event_ts[:10] for a in n2.alerts] == ["2024-11-15"]


def test_resolved_before_first_notice_is_not_sent():
    g, r = Grouper(), route_for(alert())
    g.add(alert(), r, 0)
    g.add(alert(status="resolved"), r, 10)
    assert g.due(30) == [] and g.groups == {}


def test_groups_split_by_group_by():
    g = Grouper()
    for app in ("doubao", "kimi"):
        a = alert(app=app)
        g.add(a, match(ROOT, routing_labels(a))[-1], 0)  # china-desk groups by rule only
    (n,) = g.due(30)
    assert n.receiver == "china-desk" and len(n.alerts) == 2 and n.group_labels == {"rule": "download-spike"}


@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(["14", "15", "16"]),
                          st.just("firing")), max_size=30))
def test_never_notifies_faster_than_group_interval(events):
    # firing only: a group emptied by resolutions is gone, and a new one starts with group_wait
    g, r = Grouper(), route_for(alert())
    sent, t = [], 0
    for at, day, status in sorted(events):
        g.add(alert(day=day, status=status), r, at)
        while (w := g.next_wakeup()) is not None and w <= at:
            t = w
            sent += [t for _ in g.due(t)]
    assert all(b - a >= r.group_interval for a, b in zip(sent, sent[1:]))
