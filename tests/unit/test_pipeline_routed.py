"""Routed delivery: routes, grouping, inhibition and per-receiver isolation, with a fake clock."""

import asyncio

from prometheus_client import CollectorRegistry

from alerts.config import AlertsConfig
from alerts.metrics import DeliveryMetrics
from alerts.notify import BaseNotifier
from alerts.pipeline import Pipeline, store_backoff
from core.alert import Alert, alert_id
from core.retry import RetryPolicy
from core.yamlfile import parse

CONFIG = """
route:
  receiver: all
  group_by: [rule]
  group_wait: 10s
  group_interval: 1m
  routes:
    - {matchers: ['app_id="doubao"'], receiver: market, group_wait: 0s, continue: true}
    - {receiver: all}   # everything, Doubao included (the root only takes what no child does)
receivers: [{name: all}, {name: market}]
inhibit_rules:
  - {source_matchers: ['severity="critical"'], target_matchers: ['severity="warning"'], equal: [app_id]}
"""


def alert(app, severity="warning", rule="download-spike"):
    labels = {"app_id": app}
    return Alert(
        alert_id=alert_id(rule, labels, severity),
        rule=rule,
        kind="spike",
        severity=severity,
        labels=labels,
        event_ts="2024-11-14T00:00:00+08:00",
        summary=app,
    )


class Recorder(BaseNotifier):
    def __init__(self, name, hang=None):
        self.name, self.got, self.hang = name, [], hang

    async def notify(self, alerts):
        if self.hang:
            await self.hang.wait()
        self.got.append([a.labels["app_id"] for a in alerts])
        return None


async def until(pred, timeout: float = 5.0) -> None:
    """Wait for ``pred()`` (a notification received ...), failing after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.002)


def pipeline(receivers, now):
    return Pipeline(
        parse(CONFIG, AlertsConfig),
        receivers,
        DeliveryMetrics(CollectorRegistry()),
        RetryPolicy(max_attempts=1),
        clock=lambda: now[0],
    )


def test_routes_groups_and_waits():
    async def main():
        now = [0.0]
        everyone, market = Recorder("all"), Recorder("market")
        p = pipeline({"all": [everyone], "market": [market]}, now)
        runner = asyncio.create_task(p.run())
        assert p.accept(alert("doubao")) == 2 and p.accept(alert("kimi")) == 1
        await until(lambda: market.got)
        assert market.got == [["doubao"]] and everyone.got == []  # group_wait 0 vs 10s
        now[0] = 10.0
        p._wake.set()
        await until(lambda: everyone.got)
        assert everyone.got == [["doubao", "kimi"]]  # one group: group_by rule
        runner.cancel()

    asyncio.run(main())


def test_inhibition_mutes_the_warning_while_the_critical_fires_and_no_longer():
    """Regression: an inhibited alert was dropped for good at arrival, and the source was
    never forgotten. As in Alertmanager, the target is muted at each flush while a
    matching source fires; once the source ends, the next flush sends the target."""
    now = [100.0]
    everyone, market = Recorder("all"), Recorder("market")
    p = pipeline({"all": [everyone], "market": [market]}, now)
    crit = alert("kimi", "critical").model_copy(update={"resolves": True})
    assert p.accept(crit) == 1
    assert p.accept(alert("kimi", "warning")) == 1  # grouped, then muted when flushed
    assert p.accept(alert("doubao", "warning")) == 2  # other app: not equal on app_id
    now[0] = 200.0
    sent = p.flush()
    assert [[a.labels["app_id"] + ":" + a.severity for a in n.alerts] for n in sent if n.receiver == "all"] == [
        ["kimi:critical", "doubao:warning"]
    ]  # kimi's warning left out while its critical fires
    assert p.metrics.inhibited._value.get() == 1
    p.accept(crit.model_copy(update={"status": "resolved"}))  # the source ends
    now[0] = 300.0
    (later,) = [n for n in p.flush() if n.receiver == "all"]
    assert sorted(f"{a.labels['app_id']}:{a.severity}:{a.status}" for a in later.alerts) == [
        "kimi:critical:resolved",
        "kimi:warning:firing",
    ]
    assert crit.alert_id not in p.firing  # the source left the firing set
    now[0] = 100.0 + p.resolve_timeout + 1
    p.flush()
    assert p.firing == {}  # and the one-offs after resolve_timeout: memory stays bounded


def test_a_hanging_receiver_does_not_delay_the_others():
    async def main():
        now = [100.0]
        gate = asyncio.Event()
        slow, fast = Recorder("all", hang=gate), Recorder("market")
        p = pipeline({"all": [slow], "market": [fast]}, now)
        runner = asyncio.create_task(p.run())
        p.accept(alert("doubao"))
        now[0] = 200.0
        p._wake.set()
        await until(lambda: fast.got)
        assert fast.got == [["doubao"]] and slow.got == []
        gate.set()
        await until(lambda: slow.got)
        assert slow.got == [["doubao"]]
        runner.cancel()

    asyncio.run(main())


def test_a_receiver_sends_at_most_max_concurrency_at_once_and_tracks_what_it_has_not_sent():
    config = parse(
        """
route: {receiver: slow, group_by: [alert_id], group_wait: 0s}
receivers: [{name: slow, max_concurrency: 2}]
""",
        AlertsConfig,
    )

    class Counting(BaseNotifier):
        name = "slow"

        def __init__(self):
            self.now = self.peak = 0
            self.release = asyncio.Event()

        async def notify(self, alerts):
            self.now += 1
            self.peak = max(self.peak, self.now)
            await self.release.wait()
            self.now -= 1
            return None

    async def main():
        n = Counting()
        p = Pipeline(config, {"slow": [n]}, DeliveryMetrics(CollectorRegistry()), RetryPolicy(max_attempts=1))
        runner = asyncio.create_task(p.run())
        for app in ("a", "b", "c", "d"):
            p.accept(alert(app))
        await until(lambda: n.now == 2)
        unsent = lambda: sum(len(g["pending"]) for g in p.groups.values())  # noqa: E731
        assert n.now == 2 and unsent() == 4  # two in flight, the others wait their turn
        n.release.set()
        await until(lambda: not unsent())
        assert n.peak == 2 and unsent() == 0 and p.in_flight == set()
        runner.cancel()

    asyncio.run(main())


def test_alertmanager_receivers_get_firing_alerts_every_resend_interval_whatever_the_group_interval():
    """Regression: the re-push to Alertmanager ran only when the group flushed (every
    group_interval, 5 min by default), later than the endsAt it set (4 x 60 s): the alert
    resolved in Alertmanager between pushes. A change still waits for group_interval."""

    async def main():
        now = [0.0]
        am = Recorder("am")
        am.resend_interval = 60.0
        config = parse(
            "route: {receiver: am, group_by: [rule], group_wait: 0s}\nreceivers: [{name: am}]\n", AlertsConfig
        )
        p = Pipeline(
            config,
            {"am": [am]},
            DeliveryMetrics(CollectorRegistry()),
            RetryPolicy(max_attempts=1),
            clock=lambda: now[0],
        )
        runner = asyncio.create_task(p.run())
        state = alert("kimi", "critical").model_copy(update={"resolves": True})
        p.accept(state)
        await until(lambda: am.got)
        assert am.got == [["kimi"]]
        for pushes, t in enumerate(range(60, 301, 60), start=2):
            now[0] = float(t)
            if t == 60:
                p.accept(alert("doubao", rule="download-spike").model_copy(update={"resolves": True}))
            p._wake.set()
            await until(lambda: len(am.got) >= pushes)  # noqa: B023 - awaited in this iteration
        # a push every 60 s (doubao, new at 60 s, waits for the group flush at 300 s)
        assert am.got == [["kimi"], ["kimi"], ["kimi"], ["kimi"], ["kimi"], ["kimi", "doubao"]], am.got
        runner.cancel()

    asyncio.run(main())


class Unreachable(dict):
    """A groups store whose writes fail while ``down`` (Faust's table when the broker is
    gone: its changelog's partitions are unknown)."""

    down = False

    def __setitem__(self, key, value):
        if self.down:
            raise TypeError("'NoneType' object is not iterable")
        super().__setitem__(key, value)


def test_a_store_that_cannot_be_written_delays_delivery_but_neither_stops_it_nor_loses_an_alert():
    """Regression: a table write that failed while the broker was away crashed the worker
    (the flush task raised), and it never became ready again."""

    async def main():
        now = [0.0]
        market = Recorder("market")
        p = pipeline({"all": [], "market": [market]}, now)
        p.groups = store = Unreachable()
        assert p.accept(alert("doubao")) == 2  # accepted while the broker was there
        store.down = True  # then it went away
        runner = asyncio.create_task(p.run())
        for _ in range(3):  # flushes that fail
            await asyncio.sleep(0.01)
            p._wake.set()
        assert market.got == [] and not runner.done()
        store.down = False
        p._wake.set()
        await until(lambda: market.got)
        assert market.got == [["doubao"]]
        runner.cancel()

    asyncio.run(main())


def test_a_silence_made_after_the_alert_was_grouped_mutes_its_repeats_until_it_expires():
    """As Alertmanager's mute stage: the silences are looked at when a group is notified,
    not only when an alert arrives."""
    from alerts.silence import Silence

    config = parse(
        "route: {receiver: all, group_by: [rule], group_wait: 0s, group_interval: 10s, repeat_interval: 1m}\n"
        "receivers: [{name: all}]\n",
        AlertsConfig,
    )
    now, silences = [100.0], {}
    p = Pipeline(config, {"all": []}, DeliveryMetrics(CollectorRegistry()), clock=lambda: now[0], silences=silences)
    p.accept(alert("doubao").model_copy(update={"resolves": True}))
    assert [len(n.alerts) for n in p.flush()] == [1]
    s = Silence(matchers=['app_id="doubao"'], created_by="ana", comment="known", starts_at=110.0, ends_at=400.0)
    silences[s.id] = s
    now[0] = 100.0 + 61
    assert p.flush() == []  # the repeat is due, and muted
    now[0] = 100.0 + 122
    assert p.flush() == []
    silences[s.id] = s.model_copy(update={"ends_at": 250.0})  # expired
    now[0] = 260.0
    (repeat,) = p.flush()
    assert [a.labels["app_id"] for a in repeat.alerts] == ["doubao"]


def test_a_store_that_stays_down_costs_no_busy_loop_and_one_log_line(caplog):
    """Regression: the flush loop retried a failed store write at once, over and over
    (53,000 warnings in two minutes in CI), starving the worker while the broker was away."""

    class Counting(Unreachable):
        tries = 0

        def __setitem__(self, key, value):
            self.tries += 1
            super().__setitem__(key, value)

    async def main():
        now = [0.0]
        p = pipeline({"all": [], "market": [Recorder("market")]}, now)
        p.groups = store = Counting()
        p.accept(alert("doubao"))
        store.down = True
        runner = asyncio.create_task(p.run())
        await asyncio.sleep(0.6)  # the outage: nothing wakes the loop but its own backoff
        runner.cancel()
        return store.tries

    tries = asyncio.run(main())
    assert 1 <= tries <= 4  # 0.25 s, then 0.5 s between tries: not thousands
    failed = [r for r in caplog.records if "writing the alert groups failed" in r.getMessage()]
    assert len(failed) == 1
    assert store_backoff(1) == 0.25 and store_backoff(2) == 0.5 and store_backoff(30) == 5.0
