"""Routing tree and grouping timings (Alertmanager semantics), with an injected clock."""

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts import group as grouping
from alerts.group import group_key, routing_labels
from alerts.route import InhibitRule, Route, inhibited, match
from core.alert import Alert, alert_id
from core.yamlfile import ConfigError, parse

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


def alert(
    app="doubao", rule="download-spike", severity="warning", status="firing", country="cn", day="14", resolves=True
):
    labels = {"app_id": app, "country": country}
    return Alert(
        alert_id=alert_id(rule, labels, day),
        rule=rule,
        kind="spike",
        status=status,
        resolves=resolves,
        severity=severity,
        labels=labels,
        event_ts=f"2024-11-{day}T00:00:00+08:00",
        summary="s",
    )


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
    with pytest.raises(ConfigError, match=r"<t>:3: routes\[0\].matchers\[0\]: Value error, bad matcher"):
        parse("receiver: a\nroutes:\n  - matchers: ['app_id~doubao']\n", Route, "<t>")


def test_inhibition():
    rule = InhibitRule(
        source_matchers=['severity="critical"'], target_matchers=['severity="warning"'], equal=["app_id"]
    )
    crit = routing_labels(alert(severity="critical"))
    assert inhibited(routing_labels(alert()), [crit], [rule])
    assert not inhibited(routing_labels(alert(app="kimi")), [crit], [rule])  # not equal on app_id
    assert not inhibited(crit, [crit], [rule])


def route_for(a):
    return match(ROOT, routing_labels(a))[0]  # slack-market: wait 30s, interval 5m, repeat 4h


class Grouper:
    """The group functions over a dict, as the pipeline uses them."""

    def __init__(self, muted=lambda labels: False, resolve_timeout=300.0, retention=7 * 86400.0):
        self.groups, self.routes = {}, {}
        self.muted, self.resolve_timeout, self.retention = muted, resolve_timeout, retention

    def add(self, a, route, now) -> bool:
        key = group_key(route, a)
        self.routes[key] = route
        self.groups[key], new = grouping.add(self.groups.get(key), key, a, route, now)
        return new

    def due(self, now):
        out = []
        for key, g in list(self.groups.items()):
            after, n = grouping.flush(g, self.routes[key], now, self.muted, self.resolve_timeout, self.retention)
            if after is None:
                del self.groups[key]
            if n is not None:
                grouping.sent(after or g, n.id)
                out.append(n)
        return out

    def next_wakeup(self):
        return min((g.next_flush for g in self.groups.values()), default=None)

    def held(self) -> int:
        """Alerts still held (a group may stay for its ledger of what it notified)."""
        return sum(len(g.alerts) for g in self.groups.values())


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


def test_resolved_is_sent_once_then_the_group_holds_nothing():
    g, r = Grouper(), route_for(alert())
    g.add(alert(), r, 0)
    g.due(30)
    g.add(alert(status="resolved"), r, 100)
    (n,) = g.due(330)
    assert n.status == "resolved" and [a.status for a in n.alerts] == ["resolved"]
    assert g.held() == 0


def test_a_one_off_alert_is_sent_once_and_never_repeats():
    g, r = Grouper(), route_for(alert())
    g.add(alert(day="14", resolves=False), r, 0)
    (n,) = g.due(30)
    assert [a.status for a in n.alerts] == ["firing"]
    assert g.held() == 0  # only its ledger: memory stays bounded however many spikes fire
    assert g.due(30 + 5 * 3600) == []
    g.add(alert(day="15", resolves=False), r, 30 + 5 * 3600 + 10)  # the next one, in the same group
    (n2,) = g.due(30 + 5 * 3600 + 300)
    assert [a.event_ts[:10] for a in n2.alerts] == ["2024-11-15"]


def test_a_replayed_alert_changes_nothing_until_the_ledger_forgets_it():
    g, r = Grouper(retention=3600), route_for(alert())
    a = alert(resolves=False)
    assert g.add(a, r, 0)
    g.due(30)
    assert not g.add(a, r, 60)  # a replay: notified already
    assert g.due(330) == []
    g.due(4000)  # past the retention: the group, ledger and all, goes
    assert g.groups == {}


def test_resolved_before_first_notice_is_not_sent():
    g, r = Grouper(), route_for(alert())
    g.add(alert(), r, 0)
    g.add(alert(status="resolved"), r, 10)
    assert g.due(30) == [] and g.groups == {}


def test_inhibition_mutes_while_the_source_fires_and_no_longer():
    firing = {"source": True}
    g = Grouper(muted=lambda labels: firing["source"] and labels["severity"] == "warning")
    r = route_for(alert())
    g.add(alert(), r, 0)
    assert g.due(30) == []  # muted: nothing sent, the alert stays
    firing["source"] = False  # the source resolved
    (n,) = g.due(330)
    assert [a.status for a in n.alerts] == ["firing"]


def test_a_muted_one_off_leaves_unsent_after_resolve_timeout():
    g = Grouper(muted=lambda labels: True, resolve_timeout=300)
    r = route_for(alert())
    g.add(alert(resolves=False), r, 0)
    assert g.due(30) == [] and g.held() == 1
    assert g.due(330) == [] and g.held() == 0


def test_refresh_pushes_firing_state_alerts_every_interval():
    r = route_for(alert())
    key = group_key(r, alert())
    group, _ = grouping.add(None, key, alert(), r, 0)
    group, n = grouping.flush(group, r, 30, lambda labels: False, 300, 86400)
    assert n is not None and grouping.refresh(group, 60, 60, lambda labels: False) is None  # just sent
    again = grouping.refresh(group, 91, 60, lambda labels: False)
    assert again.refresh and [a.alert_id for a in again.alerts] == [alert().alert_id]
    assert grouping.refresh(group, 100, 60, lambda labels: False) is None


def test_groups_split_by_group_by():
    g = Grouper()
    for app in ("doubao", "kimi"):
        a = alert(app=app)
        g.add(a, match(ROOT, routing_labels(a))[-1], 0)  # china-desk groups by rule only
    (n,) = g.due(30)
    assert n.receiver == "china-desk" and len(n.alerts) == 2 and n.group_labels == {"rule": "download-spike"}


@given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(["14", "15", "16"]), st.just("firing")), max_size=30))
def test_never_notifies_faster_than_group_interval(events):
    # firing only: a group emptied by resolutions is gone, and a new one starts with group_wait
    g, r = Grouper(), route_for(alert())
    sent, t = [], 0
    for at, day, status in sorted(events):
        g.add(alert(day=day, status=status), r, at)
        while (w := g.next_wakeup()) is not None and w <= at:
            t = w
            sent += [t for _ in g.due(t)]
    assert all(b - a >= r.group_interval for a, b in pairwise(sent))
