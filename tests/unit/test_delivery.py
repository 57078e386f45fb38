"""Webhook signing and retry classification (MockTransport), and the dispatcher."""

import asyncio
import json
import time
from datetime import datetime, timezone

import httpx
import pytest
from prometheus_client import CollectorRegistry
from standardwebhooks import Webhook, WebhookVerificationError

from alerts.dispatch import RetryPolicy, deliver
from alerts.metrics import DeliveryMetrics
from core.alert import Alert, alert_id
from alerts.notify.console import ConsoleNotifier, line
from alerts.notify.webhook import WebhookNotifier
from appwatch.receiver import new_secret

NOW = float(int(time.time()))  # a fixed clock per test (below): verification rejects stale timestamps


@pytest.fixture(autouse=True)
def _now():
    global NOW
    NOW = float(int(time.time()))
LABELS = {"app_id": "doubao", "platform": "all", "country": "cn", "metric": "downloads"}


def alert(**over) -> Alert:
    base = dict(alert_id=alert_id("download-spike", LABELS, "2024-11-14T00:00:00+08:00"),
                rule="download-spike", kind="spike", labels=LABELS, value=2.4e6, baseline=8e5,
                window_start="2024-11-14T00:00:00+08:00", event_ts="2024-11-14T00:00:00+08:00",
                summary="豆包 <b>spike</b> [x]")
    return Alert(**{**base, **over})


def notifier(handler, secret=None, **kw):
    return WebhookNotifier("hook", "http://receiver.test/hook", secret,
                           transport=httpx.MockTransport(handler), clock=lambda: NOW, **kw)


def test_payload_is_signed_per_standard_webhooks():
    secret, seen = new_secret(), []

    def handler(request):
        seen.append(request)
        return httpx.Response(204)

    retry, err = asyncio.run(notifier(handler, secret, headers={"x-team": "market"}).notify(alert()))
    assert (retry, err) == (False, None)
    (req,) = seen
    payload = Webhook(secret).verify(req.content, dict(req.headers))
    assert payload["type"] == "alert.firing"
    assert payload["data"]["summary"] == "豆包 <b>spike</b> [x]"
    assert payload["timestamp"] == datetime.fromtimestamp(NOW, timezone.utc).isoformat().replace("+00:00", "Z")
    assert req.headers["webhook-timestamp"] == str(int(NOW))
    assert req.headers["webhook-id"] == f"msg_{alert().alert_id}_firing"
    assert req.headers["x-team"] == "market"


def test_tampered_body_fails_verification():
    secret, seen = new_secret(), []
    asyncio.run(notifier(lambda r: seen.append(r) or httpx.Response(200), secret).notify(alert()))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(seen[0].content.replace(b"2400000", b"9"), dict(seen[0].headers))


@pytest.mark.parametrize("status,retry", [(500, True), (503, True), (429, True), (408, True),
                                          (400, False), (404, False), (410, False)])
def test_status_classification(status, retry):
    r, err = asyncio.run(notifier(lambda req: httpx.Response(status, text="nope")).notify(alert()))
    assert r is retry and f"HTTP {status}" in str(err)


def test_connection_error_is_retried():
    def boom(request):
        raise httpx.ConnectError("refused", request=request)

    retry, err = asyncio.run(notifier(boom).notify(alert()))
    assert retry and isinstance(err, httpx.ConnectError)


class Flaky:
    """A notifier that fails ``n`` times, then succeeds."""

    def __init__(self, name, failures, retry=True):
        self.name, self.failures, self.retry, self.calls = name, failures, retry, 0

    async def notify(self, a):
        self.calls += 1
        if self.calls <= self.failures:
            return self.retry, RuntimeError("down")
        return False, None


def run_dispatch(notifiers, a=None, policy=RetryPolicy(max_attempts=4, initial=1, max_wait=8),
                 disabled=None, on_failed=None, registry=None):
    """Deliver one alert to each notifier, as a receiver's queue does; return the outcomes."""
    registry, waits = registry or CollectorRegistry(), []
    metrics = DeliveryMetrics(registry)

    async def sleep(s):
        waits.append(s)

    async def run():
        return await asyncio.gather(*(deliver(n, a or alert(), policy, metrics, sleep, disabled, on_failed)
                                      for n in notifiers))

    outcomes = asyncio.run(run())
    return {n.name: o for n, o in zip(notifiers, outcomes)}, registry, waits


def test_retries_with_growing_backoff_then_sends():
    n = Flaky("hook", 2)
    result, reg, waits = run_dispatch([n])
    assert result == {"hook": "sent"} and n.calls == 3
    assert len(waits) == 2 and waits[1] > waits[0] - 1  # exponential with jitter <= initial
    assert reg.get_sample_value("appwatch_notifications_total",
                                {"receiver": "hook", "integration": "flaky", "outcome": "sent"}) == 1
    assert reg.get_sample_value("appwatch_notifications_in_flight", {"receiver": "hook"}) == 0
    assert reg.get_sample_value("appwatch_notification_attempts_total", {"receiver": "hook"}) == 3


def test_gives_up_after_max_attempts_and_permanent_errors_are_not_retried():
    down, bad = Flaky("down", 99), Flaky("bad", 99, retry=False)
    result, reg, _ = run_dispatch([down, bad])
    assert result == {"down": "gave_up", "bad": "failed"}
    assert down.calls == 4 and bad.calls == 1


def test_console_line_escapes_markup_and_keeps_chinese(capsys):
    from rich.console import Console

    console = Console(force_terminal=False, width=200)
    asyncio.run(ConsoleNotifier(console).notify(alert()))
    out = capsys.readouterr().out
    assert "豆包 <b>spike</b> [x]" in out and "download-spike" in out
    assert "[x]" in line(alert())  # escaped in markup, printed literally
    json.dumps(out)


def test_jsonl_notifier_appends_one_line_per_alert(tmp_path):
    from alerts.notify.jsonl import JsonlNotifier

    n = JsonlNotifier(tmp_path / "audit" / "alerts.jsonl")
    assert asyncio.run(n.notify(alert())) == (False, None)
    asyncio.run(n.notify(alert(status="resolved")))
    lines = (tmp_path / "audit" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["status"] for x in lines] == ["firing", "resolved"]
    assert json.loads(lines[0])["summary"] == "豆包 <b>spike</b> [x]"


def test_jsonl_notifier_reports_disk_errors_as_retryable(tmp_path):
    from alerts.notify.jsonl import JsonlNotifier

    (tmp_path / "file").write_text("")
    retry, err = asyncio.run(JsonlNotifier(tmp_path / "file" / "x.jsonl").notify(alert()))
    assert retry and isinstance(err, OSError)


def test_a_blocked_address_is_final_whatever_the_notifier_says():
    from core.ssrf import BlockedAddress

    class Blocked:
        name, calls = "x", 0

        async def notify(self, a):
            self.calls += 1
            return True, BlockedAddress("169.254.169.254 is link-local")

    n = Blocked()
    result, reg, waits = run_dispatch([n])
    assert result == {"x": "failed"} and n.calls == 1 and waits == []


def test_retry_after_from_the_receiver_stretches_the_backoff():
    from alerts.notify.webhook import WebhookError

    class Limited:
        name, calls = "hook", 0

        async def notify(self, a):
            self.calls += 1
            return (True, WebhookError(429, "slow down", retry_after=7.0)) if self.calls == 1 else (False, None)

    result, _, waits = run_dispatch([Limited()])
    assert result == {"hook": "sent"} and waits[0] >= 7.0


def test_webhook_error_carries_retry_after():
    r, err = asyncio.run(notifier(lambda req: httpx.Response(503, headers={"Retry-After": "12"})).notify(alert()))
    assert r and err.retry_after == 12.0


def test_410_disables_the_receiver_and_permanent_failures_reach_the_dlq():
    from alerts.notify.webhook import WebhookError

    class Gone:
        name, calls = "old", 0

        async def notify(self, a):
            self.calls += 1
            return False, WebhookError(410, "gone")

    class Bad:
        name, calls = "bad", 0

        async def notify(self, a):
            self.calls += 1
            return False, WebhookError(400, "no such channel")

    registry, failed = CollectorRegistry(), []

    async def on_failed(n, a, err):
        failed.append((n.name, err.status))

    gone, disabled, policy = Gone(), set(), RetryPolicy(max_attempts=2)
    first, _, _ = run_dispatch([gone, Bad()], policy=policy, disabled=disabled, on_failed=on_failed,
                               registry=registry)
    assert first == {"old": "gone", "bad": "failed"}
    assert sorted(failed) == [("bad", 400), ("old", 410)]
    assert registry.get_sample_value("appwatch_receiver_disabled", {"receiver": "old"}) == 1
    again, _, _ = run_dispatch([gone], a=alert(summary="next"), policy=policy, disabled=disabled)
    assert again["old"] == "disabled" and gone.calls == 1


def test_a_payload_template_shapes_the_body_and_is_signed():
    secret, seen = new_secret(), []
    template = '{"text": "{{ alert.summary }}", "app": {{ alert.labels.app_id | tojson }}, "kind": "{{ type }}"}'
    n = notifier(lambda r: seen.append(r) or httpx.Response(200), secret, template=template)
    assert asyncio.run(n.notify(alert())) == (False, None)
    body = Webhook(secret).verify(seen[0].content, dict(seen[0].headers))
    assert body == {"text": "豆包 <b>spike</b> [x]", "app": "doubao", "kind": "alert.firing"}


def test_a_bad_template_or_an_unsafe_one_is_refused():
    with pytest.raises(ValueError, match="webhook template, line 1"):
        notifier(lambda r: httpx.Response(200), template="{% if %}")
    sneaky = notifier(lambda r: httpx.Response(200), template="{{ alert.__class__.__mro__ }}")
    from jinja2.exceptions import SecurityError

    with pytest.raises(SecurityError):
        sneaky.request(alert())
    retry, err = asyncio.run(sneaky.notify(alert()))  # a notifier returns errors, never raises
    assert retry is False and isinstance(err, SecurityError)
