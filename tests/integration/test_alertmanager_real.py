"""AlertmanagerNotifier against a real Alertmanager (Debian ``prometheus-alertmanager``).

Alertmanager runs as a child process on loopback with clustering off; its only
receiver is a webhook on this test's pytest-httpserver, so the test sees both
sides: what we pushed (``GET /api/v2/alerts``) and what Alertmanager itself
delivers (its webhook payload, version 4) for firing and then resolved.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from alerts.notify.alertmanager import (
    FIRING_TTL,
    AlertmanagerError,
    AlertmanagerNotifier,
    classify,
    parse_ts,
)
from appwatch.broker import free_port
from core.alert import Alert, alert_id
from tests.conftest import Hooks, terminate, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

BINARY = (
    os.environ.get("APPWATCH_ALERTMANAGER")
    or shutil.which("prometheus-alertmanager")
    or shutil.which("alertmanager")
    or "/usr/bin/prometheus-alertmanager"
)

CONFIG = """\
global:
  resolve_timeout: 5m
route:
  receiver: hook
  group_by: [alertname, app_id]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
        send_resolved: true
"""


class Alertmanager:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log
        self.url = f"http://127.0.0.1:{port}"

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self, timeout: float = 5.0) -> None:
        terminate(self.proc, timeout)


@pytest.fixture
def hook(httpserver) -> Hooks:
    return Hooks(httpserver, secret="unused", path="/alertmanager")


@pytest.fixture
def alertmanager(tmp_path, hook):
    if not Path(BINARY).is_file() or not os.access(BINARY, os.X_OK):
        pytest.skip(
            f"Alertmanager binary not found ({BINARY}); "
            "apt-get install prometheus-alertmanager or set APPWATCH_ALERTMANAGER"
        )
    (tmp_path / "am.yml").write_text(CONFIG.format(url=hook.url))
    port, log = free_port(), tmp_path / "alertmanager.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                BINARY,
                f"--config.file={tmp_path / 'am.yml'}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=debug",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    am = Alertmanager(proc, port, log)
    try:

        def ready():
            if proc.poll() is not None:
                pytest.fail(f"alertmanager exited {proc.returncode}:\n{am.tail()}")
            try:
                return httpx.get(f"{am.url}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 15, "alertmanager /-/ready")
        yield am
    finally:
        am.stop()


LABELS = {"app_id": "doubao", "platform": "all", "country": "cn", "metric": "downloads"}


def make_alert(status: str, start: str, **over) -> Alert:
    base = dict(
        alert_id=alert_id("download-spike", LABELS, start),
        rule="download-spike",
        kind="spike",
        status=status,
        severity="critical",
        labels=LABELS,
        value=2.4e6,
        baseline=8e5,
        window_start=start,
        event_ts=start,
        summary="豆包 downloads 2.4M (3.0x baseline)",
        context=[{"title": "ByteDance ships Doubao 2", "url": "https://news.test/doubao-2"}],
    )
    return Alert(**{**base, **over})


def push(url: str, alert: Alert, **kw):
    """One notify() on a fresh client, in its own event loop, closed afterwards."""

    async def go():
        notifier = AlertmanagerNotifier("am", url, allow_hosts=["127.0.0.1"], **kw)
        try:
            return await notifier.notify([alert])
        finally:
            await notifier.aclose()

    return asyncio.run(go())


def payloads(requests) -> list[dict]:
    return [json.loads(body) for _, body, _ in requests]


def test_alertmanager_roundtrip_firing_then_resolved(alertmanager, hook):
    start = datetime.fromtimestamp(int(time.time()) - 60, UTC).isoformat()
    firing = make_alert("firing", start)
    gen = "http://appwatch.test"

    # 1. we push; Alertmanager stores the alert as we sent it
    assert push(alertmanager.url, firing, generator_url_base=gen) is None, alertmanager.tail()

    def stored():
        resp = httpx.get(
            f"{alertmanager.url}/api/v2/alerts", params={"filter": f'alert_id="{firing.alert_id}"'}, timeout=2
        )
        resp.raise_for_status()
        return resp.json()

    (got,) = wait_until(stored, 5, "alert visible in GET /api/v2/alerts")
    assert got["labels"] == {
        **LABELS,
        "alertname": "download-spike",
        "severity": "critical",
        "alert_id": firing.alert_id,
    }
    assert got["annotations"]["summary"] == firing.summary
    assert "value 2,400,000 baseline 800,000 (3.00x)" in got["annotations"]["description"]
    assert "ByteDance ships Doubao 2 <https://news.test/doubao-2>" in got["annotations"]["description"]
    assert parse_ts(got["startsAt"]) == parse_ts(start)
    assert parse_ts(got["endsAt"]).timestamp() == pytest.approx(time.time() + FIRING_TTL, abs=30)
    assert got["status"]["state"] == "active"
    assert got["generatorURL"] == f"http://appwatch.test/alerts/{firing.alert_id}"
    assert got["receivers"] == [{"name": "hook"}]

    # 2. Alertmanager itself notifies its webhook receiver
    hook.wait(lambda reqs: any(p["status"] == "firing" for p in payloads(reqs)), 10, "alertmanager's firing webhook")
    fired = next(p for p in payloads(hook.requests) if p["status"] == "firing")
    assert fired["version"] == "4" and fired["receiver"] == "hook"
    assert fired["groupLabels"] == {"alertname": "download-spike", "app_id": "doubao"}
    (a,) = fired["alerts"]
    assert a["status"] == "firing" and a["labels"]["alertname"] == "download-spike"
    assert a["labels"]["alert_id"] == firing.alert_id
    assert a["annotations"]["summary"] == firing.summary
    assert a["generatorURL"] == f"http://appwatch.test/alerts/{firing.alert_id}"

    # 3. the resolved alert (same alert_id, same labels) ends it; Alertmanager sends "resolved"
    resolved = make_alert(
        "resolved", start, window_end=datetime.now(UTC).isoformat(), summary="豆包 downloads back to normal"
    )
    assert push(alertmanager.url, resolved, generator_url_base=gen) is None, alertmanager.tail()
    hook.wait(
        lambda reqs: any(p["status"] == "resolved" for p in payloads(reqs)), 10, "alertmanager's resolved webhook"
    )
    done = next(p for p in payloads(hook.requests) if p["status"] == "resolved")
    assert done["version"] == "4" and done["groupLabels"]["app_id"] == "doubao"
    (a,) = done["alerts"]
    assert a["status"] == "resolved" and a["labels"]["alert_id"] == firing.alert_id
    assert a["annotations"]["summary"] == "豆包 downloads back to normal"
    assert parse_ts(a["endsAt"]) <= datetime.now(UTC)
    assert sum(p["status"] == "firing" for p in payloads(hook.requests)) == 1  # repeat_interval 1h


def test_alertmanager_validation_errors_are_permanent(alertmanager):
    """Alertmanager's own 400 text reaches the error, classified as permanent."""
    bad = [{"labels": {"alertname": "x"}, "startsAt": "2024-01-02T00:00:00Z", "endsAt": "2024-01-01T00:00:00Z"}]
    resp = httpx.post(f"{alertmanager.url}/api/v2/alerts", json=bad, timeout=5)
    err = classify(resp)
    assert resp.status_code == 400 and err.retryable is False and isinstance(err, AlertmanagerError)
    assert err.message == "start time must be before end time"

    # and a stopped Alertmanager is a retryable connection error
    alertmanager.stop()
    err = push(alertmanager.url, make_alert("firing", "2024-11-14T00:00:00+08:00"))
    assert err.retryable is True and isinstance(err.__cause__, httpx.TransportError)


@pytest.mark.timeout(90)
def test_a_firing_alert_stays_active_in_alertmanager_between_resends(alertmanager, hook, request):
    """Regression: a state alert was pushed with endsAt one hour ahead and pushed again
    only every repeat_interval (4 h): Alertmanager resolved it in between, told its
    receivers, and fired it again later. Now the pipeline re-pushes firing alerts every
    ``resend_interval`` (1 s here), with endsAt 4 intervals ahead, whatever the group's
    group_interval (default 5 min) and repeat_interval: across 3+ of its endsAt periods the
    alert stays active, and Alertmanager sends firing once and resolved only at the end."""
    from prometheus_client import CollectorRegistry

    from alerts.config import AlertsConfig
    from alerts.metrics import DeliveryMetrics
    from alerts.pipeline import Pipeline, build
    from core.yamlfile import parse
    from tests.fault.report import recorder

    rec = recorder(request)
    config = parse(
        f"""\
route: {{receiver: am, group_by: [rule], group_wait: 0s}}
receivers:
  - name: am
    alertmanager_configs: [{{url: "{alertmanager.url}", resend_interval: 1s}}]
allow_hosts: [127.0.0.1]
""",
        AlertsConfig,
    )
    (am_receiver,) = config.receivers
    start = datetime.fromtimestamp(int(time.time()) - 60, UTC).isoformat()
    firing = make_alert("firing", start, resolves=True, kind="threshold")
    ttl = 4 * 1.0

    async def scenario():
        pipeline = Pipeline(
            config, {"am": build(am_receiver, config.allow_hosts)}, DeliveryMetrics(CollectorRegistry())
        )
        runner = asyncio.create_task(pipeline.run())
        try:
            pipeline.accept(firing)
            seen: list[dict] = []
            async with httpx.AsyncClient(timeout=2) as client:
                began = time.monotonic()
                while time.monotonic() - began < 3.5 * ttl:  # the window observed: 3.5 endsAt periods
                    resp = await client.get(
                        f"{alertmanager.url}/api/v2/alerts",
                        params={
                            "filter": f'alert_id="{firing.alert_id}"',
                            "active": "true",
                            "inhibited": "true",
                            "silenced": "true",
                            "unprocessed": "true",
                        },
                    )
                    resp.raise_for_status()
                    seen.append({"at": time.monotonic() - began, "alerts": resp.json()})
                    await asyncio.sleep(0.25)  # polling cadence of an observer, not synchronisation
            pipeline.accept(
                make_alert("resolved", start, resolves=True, kind="threshold", window_end=datetime.now(UTC).isoformat())
            )
            await asyncio.to_thread(
                hook.wait,
                lambda reqs: any(p["status"] == "resolved" for p in payloads(reqs)),
                15,
                "alertmanager's resolved webhook",
            )
            return seen
        finally:
            runner.cancel()

    seen = asyncio.run(scenario())
    after_first = [s for s in seen if s["alerts"]]
    assert after_first and after_first[0]["at"] < 2, "the first push reached Alertmanager"
    states = [s["alerts"][0]["status"]["state"] if s["alerts"] else "gone" for s in after_first]
    assert states.count("active") == len(states), f"not active at some point: {states}"
    assert after_first[-1]["at"] - after_first[0]["at"] >= 3 * ttl
    ends = sorted({parse_ts(s["alerts"][0]["endsAt"]) for s in after_first})
    assert len(ends) >= 3 * ttl, f"endsAt moved forward with each re-push: {len(ends)} values"  # ~1 per second
    statuses = [p["status"] for p in payloads(hook.requests)]
    assert statuses == ["firing", "resolved"], statuses  # no resolved-and-fired-again in between
    rec(
        "alert active in a real Alertmanager between resends",
        events_in=2,
        receiver="alertmanager",
        alerts_expected=2,
        delivered=len(statuses),
        missing=2 - len(set(statuses)),
        duplicated=len(statuses) - len(set(statuses)),
    )
