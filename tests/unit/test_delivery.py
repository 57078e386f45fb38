"""Webhook signing and retry classification (MockTransport), and the dispatcher."""

import asyncio
import json
import time
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client import CollectorRegistry
from standardwebhooks import Webhook, WebhookVerificationError

from alerts.dispatch import deliver
from alerts.metrics import DeliveryMetrics
from alerts.notify import BaseNotifier
from alerts.notify.console import ConsoleNotifier, line
from alerts.notify.webhook import WebhookError, WebhookNotifier
from appwatch.receiver import new_secret
from core.alert import Alert, alert_id
from core.retry import DeliveryError, RetryPolicy

NOW = float(int(time.time()))  # a fixed clock per test (below): verification rejects stale timestamps


@pytest.fixture(autouse=True)
def _now():
    global NOW
    NOW = float(int(time.time()))


LABELS = {"app_id": "doubao", "platform": "all", "country": "cn", "metric": "downloads"}


def alert(**over) -> Alert:
    base = dict(
        alert_id=alert_id("download-spike", LABELS, "2024-11-14T00:00:00+08:00"),
        rule="download-spike",
        kind="spike",
        labels=LABELS,
        value=2.4e6,
        baseline=8e5,
        window_start="2024-11-14T00:00:00+08:00",
        event_ts="2024-11-14T00:00:00+08:00",
        summary="豆包 <b>spike</b> [x]",
    )
    return Alert(**{**base, **over})


def notifier(handler, secret=None, **kw):
    return WebhookNotifier(
        "hook", "http://receiver.test/hook", secret, transport=httpx.MockTransport(handler), clock=lambda: NOW, **kw
    )


def test_payload_is_signed_per_standard_webhooks():
    secret, seen = new_secret(), []

    def handler(request):
        seen.append(request)
        return httpx.Response(204)

    assert asyncio.run(notifier(handler, secret, headers={"x-team": "market"}).notify([alert()])) is None
    (req,) = seen
    payload = Webhook(secret).verify(req.content, dict(req.headers))
    assert payload["type"] == "alert.firing"
    assert payload["data"]["summary"] == "豆包 <b>spike</b> [x]"
    assert payload["timestamp"] == datetime.fromtimestamp(NOW, UTC).isoformat().replace("+00:00", "Z")
    assert req.headers["webhook-timestamp"] == str(int(NOW))
    assert req.headers["webhook-id"] == f"msg_{alert().alert_id}_firing"
    assert req.headers["x-team"] == "market"


def test_tampered_body_fails_verification():
    secret, seen = new_secret(), []
    asyncio.run(notifier(lambda r: seen.append(r) or httpx.Response(200), secret).notify([alert()]))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(seen[0].content.replace(b"2400000", b"9"), dict(seen[0].headers))


@pytest.mark.parametrize(
    "status,retry,gone",
    [
        (500, True, False),
        (503, True, False),
        (429, True, False),
        (408, True, False),
        (425, True, False),
        (400, False, False),
        (404, False, False),
        (410, False, True),
    ],
)
def test_status_classification(status, retry, gone):
    err = asyncio.run(notifier(lambda req: httpx.Response(status, text="nope")).notify([alert()]))
    assert isinstance(err, WebhookError) and isinstance(err, DeliveryError)
    assert (err.retryable, err.permanent, err.status, err.body) == (retry, gone, status, "nope")
    assert f"HTTP {status}" in str(err)


def test_connection_error_is_retried():
    def boom(request):
        raise httpx.ConnectError("refused", request=request)

    err = asyncio.run(notifier(boom).notify([alert()]))
    assert isinstance(err, DeliveryError) and err.retryable and not err.permanent and err.status is None
    assert isinstance(err.__cause__, httpx.ConnectError) and str(err) == "ConnectError: refused"


def test_a_group_is_sent_one_request_per_alert_until_the_first_failure():
    seen = []

    def handler(request):
        seen.append(json.loads(request.content)["data"]["summary"])
        return httpx.Response(503 if seen[-1] == "c" else 204)

    n = notifier(handler)
    assert asyncio.run(n.notify([alert(summary="a")])) is None
    err = asyncio.run(n.notify([alert(summary="b"), alert(summary="c"), alert(summary="d")]))
    assert err.status == 503 and err.retryable and seen == ["a", "b", "c"]  # d waits for the retry
    assert asyncio.run(n.notify([])) is None and len(seen) == 3


class Flaky(BaseNotifier):
    """A notifier that fails ``n`` times, then succeeds."""

    kind = "flaky"

    def __init__(self, name, failures, retry=True):
        self.name, self.failures, self.retry, self.calls = name, failures, retry, 0

    async def notify(self, alerts):
        self.calls += 1
        if self.calls <= self.failures:
            return DeliveryError("down", retryable=self.retry)
        return None


def run_dispatch(
    notifiers,
    a=None,
    policy=RetryPolicy(max_attempts=4, initial=1, max_wait=8),
    disabled=None,
    on_failed=None,
    registry=None,
):
    """Deliver one alert (or a group) to each notifier, as a receiver's queue does, on a
    simulated clock that the sleeps move on; return the outcomes, registry and waits."""
    registry, waits, now = registry or CollectorRegistry(), [], [0.0]
    metrics = DeliveryMetrics(registry)

    async def sleep(s):
        waits.append(s)
        now[0] += s

    async def run():
        return await asyncio.gather(
            *(
                deliver(
                    n, a or alert(), policy, metrics, sleep, disabled, on_failed, clock=lambda: now[0], rand=lambda: 0.5
                )
                for n in notifiers
            )
        )

    outcomes = asyncio.run(run())
    return {n.name: o for n, o in zip(notifiers, outcomes, strict=True)}, registry, waits


def test_retries_with_growing_backoff_then_sends():
    n = Flaky("hook", 2)
    result, reg, waits = run_dispatch([n])
    assert result == {"hook": "sent"} and n.calls == 3
    assert waits == [1, 2]  # initial 1 s, doubling (rand 0.5: the jitter moves nothing)
    assert (
        reg.get_sample_value(
            "appwatch_notifications_total", {"receiver": "hook", "integration": "flaky", "outcome": "sent"}
        )
        == 1
    )
    assert reg.get_sample_value("appwatch_notifications_in_flight", {"receiver": "hook"}) == 0
    assert reg.get_sample_value("appwatch_notification_attempts_total", {"receiver": "hook"}) == 3


def test_gives_up_after_max_attempts_and_permanent_errors_are_not_retried():
    down, bad = Flaky("down", 99), Flaky("bad", 99, retry=False)
    result, reg, _ = run_dispatch([down, bad])
    assert result == {"down": "gave_up", "bad": "failed"}
    assert down.calls == 4 and bad.calls == 1


def test_no_attempt_starts_after_max_age():
    down = Flaky("down", 99)
    result, _, waits = run_dispatch(
        [down], policy=RetryPolicy(max_attempts=99, initial=1, max_wait=8, max_age=20, jitter=0)
    )
    assert result == {"down": "gave_up"} and waits == [1, 2, 4, 8] and down.calls == 5  # 15 s; +8 > 20


def test_a_notifier_that_raises_is_treated_as_one_that_returned_the_error():
    class Raising(BaseNotifier):
        name, calls = "raises", 0

        async def notify(self, alerts):
            self.calls += 1
            if self.calls == 1:
                raise httpx.ReadTimeout("slow")
            raise KeyError("bug")

    n, failed = Raising(), []

    async def on_failed(notifier, a, err):
        failed.append((notifier.name, type(err.__cause__).__name__, err.retryable))

    result, reg, waits = run_dispatch([n], on_failed=on_failed)
    assert result == {"raises": "failed"} and n.calls == 2 and waits == [1]  # the timeout retried, the bug not
    assert failed == [("raises", "KeyError", False)]
    assert (
        reg.get_sample_value(
            "appwatch_notifications_total", {"receiver": "raises", "integration": "custom", "outcome": "failed"}
        )
        == 1
    )


def test_a_group_goes_in_one_call_and_every_alert_of_a_failed_one_reaches_the_dlq():
    class Recorder(BaseNotifier):
        name, kind = "rec", "recorder"

        def __init__(self):
            self.got = []

        async def notify(self, alerts):
            self.got.append([a.summary for a in alerts])
            return WebhookError(400, "bad")

    n, failed = Recorder(), []

    async def on_failed(notifier, a, err):
        failed.append((notifier.name, a.summary, err.status))

    result, reg, _ = run_dispatch([n], a=[alert(summary="x"), alert(summary="y")], on_failed=on_failed)
    assert result == {"rec": "failed"} and n.got == [["x", "y"]]
    assert failed == [("rec", "x", 400), ("rec", "y", 400)]
    assert (
        reg.get_sample_value(
            "appwatch_notifications_total", {"receiver": "rec", "integration": "recorder", "outcome": "failed"}
        )
        == 1
    )


def test_console_line_escapes_markup_and_keeps_chinese(capsys):
    from rich.console import Console

    console = Console(force_terminal=False, width=200)
    assert asyncio.run(ConsoleNotifier(console).notify([alert()])) is None
    out = capsys.readouterr().out
    assert "豆包 <b>spike</b> [x]" in out and "download-spike" in out
    assert "[x]" in line(alert())  # escaped in markup, printed literally
    json.dumps(out)


def test_jsonl_notifier_appends_one_line_per_alert(tmp_path):
    from alerts.notify.jsonl import JsonlNotifier

    n = JsonlNotifier(tmp_path / "audit" / "alerts.jsonl")
    assert asyncio.run(n.notify([alert()])) is None
    assert asyncio.run(n.notify([alert(status="resolved"), alert(summary="same group")])) is None
    lines = (tmp_path / "audit" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["status"] for x in lines] == ["firing", "resolved", "firing"]
    assert json.loads(lines[0])["summary"] == "豆包 <b>spike</b> [x]"


def test_jsonl_notifier_reports_disk_errors_as_retryable(tmp_path):
    from alerts.notify.jsonl import JsonlNotifier

    (tmp_path / "file").write_text("")
    err = asyncio.run(JsonlNotifier(tmp_path / "file" / "x.jsonl").notify([alert()]))
    assert isinstance(err, DeliveryError) and err.retryable and isinstance(err.__cause__, OSError)


def test_a_blocked_address_is_final():
    from core.ssrf import BlockedAddress

    class Blocked(BaseNotifier):
        name, calls = "x", 0

        async def notify(self, alerts):
            self.calls += 1
            return BlockedAddress("169.254.169.254 is link-local")  # an httpx.ConnectError too

    n = Blocked()
    assert BlockedAddress("x").retryable is False and isinstance(BlockedAddress("x"), DeliveryError)
    result, reg, waits = run_dispatch([n])
    assert result == {"x": "failed"} and n.calls == 1 and waits == []


def test_retry_after_from_the_receiver_stretches_the_backoff():
    class Limited(BaseNotifier):
        name, calls = "hook", 0

        async def notify(self, alerts):
            self.calls += 1
            return WebhookError(429, "slow down", retry_after=7.0) if self.calls == 1 else None

    result, _, waits = run_dispatch([Limited()])
    assert result == {"hook": "sent"} and waits == [7.0]


def test_webhook_error_carries_retry_after():
    err = asyncio.run(notifier(lambda req: httpx.Response(503, headers={"Retry-After": "12"})).notify([alert()]))
    assert err.retryable and err.retry_after == 12.0 and err.status == 503


def test_410_disables_the_receiver_and_permanent_failures_reach_the_dlq():
    class Gone(BaseNotifier):
        name, calls = "old", 0

        async def notify(self, alerts):
            self.calls += 1
            return WebhookError(410, "gone")

    class Bad(BaseNotifier):
        name, calls = "bad", 0

        async def notify(self, alerts):
            self.calls += 1
            return WebhookError(400, "no such channel")

    registry, failed = CollectorRegistry(), []

    async def on_failed(n, a, err):
        failed.append((n.name, err.status))

    gone, disabled, policy = Gone(), set(), RetryPolicy(max_attempts=2)
    first, _, _ = run_dispatch([gone, Bad()], policy=policy, disabled=disabled, on_failed=on_failed, registry=registry)
    assert first == {"old": "gone", "bad": "failed"}
    assert sorted(failed) == [("bad", 400), ("old", 410)]
    assert registry.get_sample_value("appwatch_receiver_disabled", {"receiver": "old"}) == 1
    again, _, _ = run_dispatch([gone], a=alert(summary="next"), policy=policy, disabled=disabled)
    assert again["old"] == "disabled" and gone.calls == 1


def test_a_payload_template_shapes_the_body_and_is_signed():
    secret, seen = new_secret(), []
    template = '{"text": "{{ alert.summary }}", "app": {{ alert.labels.app_id | tojson }}, "kind": "{{ type }}"}'
    n = notifier(lambda r: seen.append(r) or httpx.Response(200), secret, template=template)
    assert asyncio.run(n.notify([alert()])) is None
    body = Webhook(secret).verify(seen[0].content, dict(seen[0].headers))
    assert body == {"text": "豆包 <b>spike</b> [x]", "app": "doubao", "kind": "alert.firing"}


def test_a_bad_template_or_an_unsafe_one_is_refused():
    with pytest.raises(ValueError, match="webhook template, line 1"):
        notifier(lambda r: httpx.Response(200), template="{% if %}")
    sneaky = notifier(lambda r: httpx.Response(200), template="{{ alert.__class__.__mro__ }}")
    from jinja2.exceptions import SecurityError

    with pytest.raises(SecurityError):
        sneaky.request(alert())
    err = asyncio.run(sneaky.notify([alert()]))  # a notifier returns errors, never raises
    assert isinstance(err, DeliveryError) and not err.retryable and isinstance(err.__cause__, SecurityError)
