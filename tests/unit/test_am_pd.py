"""Alertmanager and PagerDuty notifiers: payloads and response classification (MockTransport)."""

import asyncio
import json
import logging
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client import CollectorRegistry

from alerts.dispatch import deliver
from alerts.metrics import DeliveryMetrics
from alerts.notify.alertmanager import (
    FIRING_TTL,
    AlertmanagerError,
    AlertmanagerNotifier,
    label_name,
    to_postable,
)
from alerts.notify.pagerduty import (
    PagerDutyError,
    PagerDutyHTTPError,
    PagerDutyNotifier,
    PagerDutyTransportError,
    to_event,
)
from core.alert import Alert, alert_id
from core.retry import DeliveryError, RetryPolicy
from core.ssrf import BlockedAddress

NOW = datetime(2024, 11, 14, 12, 0, tzinfo=UTC).timestamp()
LABELS = {"app_id": "doubao", "platform": "all", "country": "cn", "metric": "downloads"}
START = "2024-11-14T00:00:00+08:00"
NEWS = [
    {
        "event_id": "n1",
        "ts": "2024-11-13T09:00:00+08:00",
        "title": "ByteDance ships Doubao 2",
        "url": "https://news.test/doubao-2",
        "kind": "launch",
        "companies": ["bytedance"],
    },
    {"event_id": "n2", "ts": "2024-11-12T09:00:00+08:00", "title": "No link here", "url": None},
]
KEY = "R0UTINGKEYR0UTINGKEYR0UTINGKEY01"


def alert(**over) -> Alert:
    base = dict(
        alert_id=alert_id("download-spike", LABELS, START),
        rule="download-spike",
        kind="spike",
        severity="critical",
        labels=LABELS,
        value=2.4e6,
        baseline=8e5,
        window_start=START,
        window_end="2024-11-15T00:00:00+08:00",
        event_ts="2024-11-14T10:30:00+08:00",
        summary="豆包 downloads 2.4M (3.0x baseline)",
        context=NEWS,
    )
    return Alert(**{**base, **over})


def run(coro):
    return asyncio.run(coro)


# -- Alertmanager payload -----------------------------------------------------


def test_postable_firing():
    a = alert()
    p = to_postable(a, "https://appwatch.test/", now=NOW)
    assert p["labels"] == {**LABELS, "alertname": "download-spike", "severity": "critical", "alert_id": a.alert_id}
    assert p["annotations"]["summary"] == a.summary
    desc = p["annotations"]["description"]
    assert "value 2,400,000 baseline 800,000 (3.00x)" in desc
    assert "- ByteDance ships Doubao 2 <https://news.test/doubao-2>" in desc
    assert "- No link here" in desc
    assert p["startsAt"] == "2024-11-13T16:00:00.000Z"  # window_start, in UTC
    assert p["endsAt"] == "2024-11-14T12:04:00.000Z"  # now + FIRING_TTL: 4 resend intervals
    assert FIRING_TTL == 240
    assert p["generatorURL"] == f"https://appwatch.test/alerts/{a.alert_id}"
    json.dumps(p)  # plain JSON


def test_postable_firing_without_ttl_omits_ends_at_and_generator():
    p = to_postable(alert(window_start=None, context=[], value=None, baseline=None), None, now=NOW, firing_ttl=None)
    assert "endsAt" not in p and "generatorURL" not in p
    assert p["startsAt"] == "2024-11-14T02:30:00.000Z"  # event_ts when there is no window
    assert "description" not in p["annotations"]


def test_postable_resolved_ends_at_window_end_or_now():
    end = "2024-11-14T08:00:00+00:00"
    p = to_postable(alert(status="resolved", window_end=end), None, now=NOW)
    assert p["endsAt"] == "2024-11-14T08:00:00.000Z"
    p = to_postable(alert(status="resolved", window_end=None), None, now=NOW)
    assert p["endsAt"] == "2024-11-14T12:00:00.000Z"
    # a window end in the future would keep the alert active: clamp to now
    p = to_postable(alert(status="resolved", window_end="2030-01-01T00:00:00Z"), None, now=NOW)
    assert p["endsAt"] == "2024-11-14T12:00:00.000Z"


def test_postable_labels_are_valid_and_reserved_ones_win():
    a = alert(labels={"app-id": "x", "9lives": "y", "empty": "", "severity": "low", "alertname": "z"})
    labels = to_postable(a, None, now=NOW)["labels"]
    assert labels == {
        "app_id": "x",
        "_9lives": "y",
        "severity": "critical",
        "alertname": "download-spike",
        "alert_id": a.alert_id,
    }
    assert label_name("a.b c") == "a_b_c"


def test_postable_news_is_compact():
    many = [{"title": "t" * 500, "url": f"https://n.test/{i}"} for i in range(9)]
    desc = to_postable(alert(context=many), None, now=NOW)["annotations"]["description"]
    assert desc.count("https://n.test/") == 5 and "(+4 more)" in desc
    assert max(len(line) for line in desc.splitlines()) < 200


# -- Alertmanager notifier ----------------------------------------------------


def am(handler, **kw):
    return AlertmanagerNotifier(
        "am", "http://am.test:9093/", transport=httpx.MockTransport(handler), clock=lambda: NOW, **kw
    )


def test_am_posts_a_list_to_v2_alerts():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200)

    n = am(handler, headers={"authorization": "Bearer t"}, generator_url_base="https://aw.test")
    assert run(n.notify([alert()])) is None
    (req,) = seen
    assert req.method == "POST" and str(req.url) == "http://am.test:9093/api/v2/alerts"
    assert req.headers["authorization"] == "Bearer t"
    assert req.headers["content-type"] == "application/json"
    assert json.loads(req.content) == [to_postable(alert(), "https://aw.test", now=NOW)]
    assert (n.kind, n.resend_interval) == ("alertmanager", 60.0)


def test_am_posts_a_group_in_one_request_and_nothing_for_none():
    seen = []
    n = am(lambda request: seen.append(request) or httpx.Response(200))
    group = [alert(), alert(status="resolved", summary="back")]
    assert run(n.notify(group)) is None and run(n.notify([])) is None
    (req,) = seen
    assert json.loads(req.content) == [to_postable(a, now=NOW) for a in group]


@pytest.mark.parametrize(
    "status,body,retry,message",
    [
        (400, '"start time must be before end time"\n', False, "start time must be before end time"),
        (400, '"invalid label set: invalid name \\"a-b\\""\n', False, 'invalid label set: invalid name "a-b"'),
        (422, '{"code":602,"message":"0.labels in body is required"}', False, "0.labels in body is required"),
        (404, "404 page not found", False, "404 page not found"),
        (429, "slow down", True, "slow down"),
        (500, "boom", True, "boom"),
        (503, "", True, ""),
    ],
)
def test_am_classification(status, body, retry, message):
    err = run(am(lambda req: httpx.Response(status, text=body)).notify([alert()]))
    assert isinstance(err, AlertmanagerError) and isinstance(err, DeliveryError) and err.retryable is retry
    assert err.status == status and err.message == message and f"HTTP {status}" in str(err)


def test_am_retry_after_is_read():
    err = run(
        am(lambda req: httpx.Response(503, headers={"Retry-After": "Thu, 14 Nov 2024 12:00:20 GMT"})).notify([alert()])
    )
    assert err.retryable and err.retry_after == 20.0


def test_am_connection_error_is_retried():
    def boom(request):
        raise httpx.ConnectError("refused", request=request)

    err = run(am(boom).notify([alert()]))
    assert isinstance(err, DeliveryError) and err.retryable and isinstance(err.__cause__, httpx.ConnectError)


def test_am_redirect_is_not_followed():
    err = run(am(lambda req: httpx.Response(307, headers={"location": "http://elsewhere/"})).notify([alert()]))
    assert not err.retryable and err.status == 307


def test_am_bad_timestamp_is_permanent_not_raised():
    err = run(am(lambda req: httpx.Response(200)).notify([alert(window_start="yesterday")]))
    assert isinstance(err, DeliveryError) and not err.retryable and isinstance(err.__cause__, ValueError)


# -- PagerDuty payload --------------------------------------------------------


def test_event_trigger():
    a = alert()
    e = to_event(a, KEY, generator_url_base="https://aw.test")
    assert e["routing_key"] == KEY and e["event_action"] == "trigger" and e["dedup_key"] == a.alert_id
    p = e["payload"]
    assert p["summary"] == a.summary and p["source"] == "appwatch" and p["severity"] == "critical"
    assert p["timestamp"] == "2024-11-14T02:30:00.000Z"
    assert (p["component"], p["group"], p["class"]) == ("doubao", "download-spike", "spike")
    d = p["custom_details"]
    assert d["labels"] == LABELS and d["value"] == 2.4e6 and d["baseline"] == 8e5 and d["context"] == NEWS
    assert e["links"] == [{"href": "https://news.test/doubao-2", "text": "ByteDance ships Doubao 2"}]
    assert e["client_url"] == f"https://aw.test/alerts/{a.alert_id}"
    json.dumps(e)


def test_event_resolve_and_limits():
    a = alert(status="resolved")
    assert to_event(a, KEY) == {"routing_key": KEY, "dedup_key": a.alert_id, "event_action": "resolve"}
    long = to_event(alert(summary="x" * 5000, context=[], labels={"source": "hn"}), KEY)
    assert len(long["payload"]["summary"]) == 1024 and long["payload"]["summary"].endswith("…")
    assert "links" not in long and "component" not in long["payload"]


@pytest.mark.parametrize(
    "ours,theirs",
    [
        ("critical", "critical"),
        ("warning", "warning"),
        ("info", "info"),
        ("error", "error"),
        ("CRITICAL", "critical"),
        ("page-me", "warning"),
    ],
)
def test_event_severity_mapping(ours, theirs):
    assert to_event(alert(severity=ours), KEY)["payload"]["severity"] == theirs


# -- PagerDuty notifier -------------------------------------------------------


def pd(handler, **kw):
    return PagerDutyNotifier("pd", KEY, transport=httpx.MockTransport(handler), clock=lambda: NOW, **kw)


def test_pd_posts_to_enqueue():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(
            202, json={"status": "success", "message": "Event processed", "dedup_key": alert().alert_id}
        )

    assert run(pd(handler).notify([alert()])) is None
    (req,) = seen
    assert str(req.url) == "https://events.pagerduty.com/v2/enqueue"
    assert json.loads(req.content) == to_event(alert(), KEY)
    assert KEY not in repr(pd(handler))


def test_pd_400_is_permanent_with_message_and_no_key():
    body = {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": [f"'routing_key' {KEY} is not a known integration key"],
    }
    err = run(pd(lambda req: httpx.Response(400, json=body)).notify([alert()]))
    assert not err.retryable and isinstance(err, PagerDutyHTTPError) and err.status == 400
    assert "Event object is invalid" in str(err) and "not a known integration key" in str(err)
    assert KEY not in str(err) and KEY not in err.message and KEY not in repr(err)


@pytest.mark.parametrize(
    "headers,wait",
    [
        ({"Retry-After": "12"}, 12.0),
        ({"Retry-After": "Thu, 14 Nov 2024 12:00:30 GMT"}, 30.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_pd_429_is_retried_with_retry_after(headers, wait):
    err = run(pd(lambda req: httpx.Response(429, headers=headers, text="")).notify([alert()]))
    assert err.retryable and err.status == 429 and err.retry_after == wait


@pytest.mark.parametrize(
    "status,retry",
    [
        (500, True),
        (502, True),
        (503, True),
        (408, True),
        (425, True),
        (429, True),
        (401, False),
        (403, False),
        (404, False),
        (413, False),
    ],
)
def test_pd_status_classification(status, retry):
    """The statuses every notifier retries (core.retry.RETRY_STATUS and 5xx), 425 included."""
    err = run(pd(lambda req: httpx.Response(status, text=f"echo {KEY}")).notify([alert()]))
    assert err.retryable is retry and f"HTTP {status}" in str(err) and KEY not in str(err)


def test_pd_410_is_gone():
    err = run(pd(lambda req: httpx.Response(410, text="")).notify([alert()]))
    assert err.permanent and not err.retryable and err.status == 410


def test_pd_sends_one_event_per_alert_until_the_first_failure():
    seen = []

    def handler(request):
        seen.append(json.loads(request.content)["event_action"])
        return httpx.Response(202 if len(seen) == 1 else 500)

    err = run(pd(handler).notify([alert(), alert(status="resolved"), alert()]))
    assert err.retryable and err.status == 500 and seen == ["trigger", "resolve"]


def test_pd_connection_error_is_retried_without_the_request():
    def boom(request):
        raise httpx.ConnectError(f"refused {request.content.decode()}", request=request)

    err = run(pd(boom).notify([alert()]))
    assert err.retryable and isinstance(err, PagerDutyTransportError) and isinstance(err, PagerDutyError)
    assert "ConnectError" in str(err) and KEY not in str(err)
    assert err.__cause__ is None and err.__context__ is None


def test_pd_bad_timestamp_and_blocked_address_are_permanent_and_redacted():
    err = run(pd(lambda req: httpx.Response(202)).notify([alert(event_ts=f"not a time {KEY}")]))
    assert isinstance(err, PagerDutyError) and not err.retryable and KEY not in str(err)

    def blocked(request):
        raise BlockedAddress(f"{KEY}.example resolves to 10.0.0.1, which is private")

    err = run(pd(blocked).notify([alert()]))
    assert isinstance(err, BlockedAddress) and not err.retryable and KEY not in str(err)


def test_pd_key_never_logged_by_the_dispatcher(caplog):
    metrics = DeliveryMetrics(CollectorRegistry())

    async def no_sleep(_):
        pass

    def handler(request):
        return httpx.Response(400, json={"message": f"bad key {KEY}"})

    with caplog.at_level(logging.DEBUG):
        outcome = run(deliver(pd(handler), alert(), RetryPolicy(max_attempts=2), metrics, sleep=no_sleep))
    assert outcome == "failed" and "bad key" in caplog.text and KEY not in caplog.text
    assert metrics.notifications.labels("pd", "pagerduty", "failed")._value.get() == 1
