"""Routed delivery: routes, grouping, inhibition and per-receiver isolation, with a fake clock."""

import asyncio

from prometheus_client import CollectorRegistry

from alerts.config import AlertsConfig
from alerts.dispatch import RetryPolicy
from alerts.metrics import DeliveryMetrics
from alerts.model import Alert, alert_id
from alerts.pipeline import Pipeline
from alerts.yamlfile import parse

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
    return Alert(alert_id=alert_id(rule, labels, severity), rule=rule, kind="spike", severity=severity,
                 labels=labels, event_ts="2024-11-14T00:00:00+08:00", summary=app)


class Recorder:
    def __init__(self, name, hang=None):
        self.name, self.got, self.hang = name, [], hang

    async def notify_group(self, alerts):
        if self.hang:
            await self.hang.wait()
        self.got.append([a.labels["app_id"] for a in alerts])
        return False, None

    async def notify(self, a):
        return await self.notify_group([a])


def pipeline(receivers, now):
    return Pipeline(parse(CONFIG, AlertsConfig), receivers, DeliveryMetrics(CollectorRegistry()),
                    RetryPolicy(max_attempts=1), clock=lambda: now[0])


def test_routes_groups_and_waits():
    async def main():
        now = [0.0]
        everyone, market = Recorder("all"), Recorder("market")
        p = pipeline({"all": [everyone], "market": [market]}, now)
        runner = asyncio.create_task(p.run())
        assert p.accept(alert("doubao")) == 2 and p.accept(alert("kimi")) == 1
        await asyncio.sleep(0.05)
        assert market.got == [["doubao"]] and everyone.got == []  # group_wait 0 vs 10s
        now[0] = 10.0
        p._wake.set()
        await asyncio.sleep(0.05)
        assert everyone.got == [["doubao", "kimi"]]  # one group: group_by rule
        runner.cancel()
    asyncio.run(main())


def test_inhibition_mutes_the_warning_while_the_critical_fires():
    now = [0.0]
    p = pipeline({"all": [], "market": []}, now)
    assert p.accept(alert("kimi", "critical")) == 1
    assert p.accept(alert("kimi", "warning")) == 0
    assert p.accept(alert("doubao", "warning")) == 2  # other app: not equal on app_id


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
        await asyncio.sleep(0.05)
        assert fast.got == [["doubao"]] and slow.got == []
        gate.set()
        await asyncio.sleep(0.05)
        assert slow.got == [["doubao"]]
        runner.cancel()
    asyncio.run(main())


def test_a_receiver_sends_at_most_max_concurrency_at_once_and_tracks_pending():
    config = parse("""
route: {receiver: slow, group_by: [alert_id], group_wait: 0s}
receivers: [{name: slow, max_concurrency: 2}]
""", AlertsConfig)

    class Counting:
        name = "slow"

        def __init__(self):
            self.now = self.peak = 0
            self.release = asyncio.Event()

        async def notify(self, a):
            self.now += 1
            self.peak = max(self.peak, self.now)
            await self.release.wait()
            self.now -= 1
            return False, None

    async def main():
        n = Counting()
        p = Pipeline(config, {"slow": [n]}, DeliveryMetrics(CollectorRegistry()), RetryPolicy(max_attempts=1))
        runner = asyncio.create_task(p.run())
        for app in ("a", "b", "c", "d"):
            p.accept(alert(app))
        for _ in range(100):
            if n.now == 2:
                break
            await asyncio.sleep(0.01)
        assert n.now == 2 and len(p.pending) == 4  # two in flight, the others wait their turn
        n.release.set()
        for _ in range(100):
            if not p.pending:
                break
            await asyncio.sleep(0.01)
        assert n.peak == 2 and p.pending == {}
        runner.cancel()
    asyncio.run(main())
