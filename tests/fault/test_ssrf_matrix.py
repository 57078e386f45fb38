"""SSRF matrix: every receiver integration x every way of reaching a non-public address.

tests/unit/test_ssrf.py checks ``check_url``, ``blocked_reason`` and ``GuardedTransport``
themselves; here the same guard is exercised through what the worker really builds:
``alerts.pipeline.build`` from an ``alerts.config.Receiver`` (webhook, Slack,
Alertmanager, PagerDuty) and ``WebhookNotifier`` directly (the ``APPWATCH_WEBHOOK_URL``
path), at config time (literal addresses, tricks, schemes), at request time (names that
resolve to private addresses; the resolver is monkeypatched), on redirects from a real
local server, and with ``allow_hosts``.

Nothing here may leave the machine: a tripwire wraps httpx's real transport and fails
any connection to something other than loopback, so a guard regression fails the test
instead of sending traffic to 169.254.169.254 or 10.0.0.1.
"""

from __future__ import annotations

import asyncio
import re
import socket

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from pytest_httpserver import HTTPServer
from werkzeug import Response

from alerts.config import Receiver
from alerts.dispatch import deliver
from alerts.metrics import DeliveryMetrics
from alerts.notify.webhook import WebhookNotifier
from alerts.pipeline import build
from core import ssrf
from core.alert import Alert, alert_id
from core.retry import RetryPolicy
from core.ssrf import BlockedAddress, BlockedURL

INTEGRATIONS = ["webhook", "slack", "alertmanager", "pagerduty"]
SLACK_SECRET = "XXsl4ckS3cretTokenXX"
PD_KEY = "R0UTINGkey0123456789abcdef012345"
LABELS = {"app_id": "doubao", "platform": "all", "country": "cn", "metric": "downloads"}
ALERT = Alert(
    alert_id=alert_id("download-spike", LABELS, "2024-11-14T00:00:00+08:00"),
    rule="download-spike",
    kind="spike",
    labels=LABELS,
    value=2.4e6,
    baseline=8e5,
    window_start="2024-11-14T00:00:00+08:00",
    event_ts="2024-11-14T00:00:00+08:00",
    summary="Doubao spike",
)
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(autouse=True)
def tripwire(monkeypatch):
    """Every connection httpx would really open; anything but loopback fails the test."""
    real = httpx.AsyncHTTPTransport.handle_async_request
    seen: list[str] = []

    async def checked(self, request):
        seen.append(request.url.host)
        if request.url.host not in LOOPBACK:
            raise AssertionError(f"SSRF: a request left for {request.url}")
        return await real(self, request)

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", checked)
    return seen


def receiver(kind: str, url: str, monkeypatch) -> Receiver:
    """A one-integration receiver whose destination is ``url`` (secrets in the environment)."""
    if kind == "webhook":
        cfg = {"webhook_configs": [{"url": url}]}
    elif kind == "slack":
        monkeypatch.setenv("SSRF_SLACK_URL", url)
        cfg = {"slack_configs": [{"url_env": "SSRF_SLACK_URL"}]}
    elif kind == "alertmanager":
        cfg = {"alertmanager_configs": [{"url": url}]}
    else:
        monkeypatch.setenv("SSRF_PD_KEY", PD_KEY)
        cfg = {"pagerduty_configs": [{"routing_key_env": "SSRF_PD_KEY", "url": url}]}
    return Receiver.model_validate({"name": "r", **cfg})


def built(kind: str, url: str, monkeypatch, allow_hosts=()):
    (notifier,) = build(receiver(kind, url, monkeypatch), list(allow_hosts))
    return notifier


def slack_path(url: str) -> str:
    return url.rstrip("/") + f"/services/T0001/B0001/{SLACK_SECRET}"


# --------------------------------------------------------------------------- config time

BRIEF = [
    "http://127.0.0.1/",
    "http://[::1]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://[fc00::1]/",
    "http://0.0.0.0/",
    "http://localhost/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://[::ffff:127.0.0.1]/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_",
    "ftp://127.0.0.1/",
]
MORE = [
    "https://127.0.0.1:8443/",
    "http://127.8.9.10:9092/",
    "http://127.1/",
    "http://0x7f000001/",
    "http://0/",
    "http://017700000001/",
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://2852039166/",
    "http://0251.0376.0251.0376/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[0:0:0:0:0:ffff:10.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::]/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1%25eth0]/",
    "http://[fec0::1]/",
    "http://[::]/",
    "http://100.100.100.200/",
    "http://192.0.0.192/",
    "http://[::ffff:192.0.0.192]/",
    "http://LOCALHOST./",
    "http://metadata.localhost/",
    "http://169.254.169.254./",
    "http://127。0。0。1/",
    "http://receiver.example@127.0.0.1/",
    "http://127.0.0.1:80@receiver.example/",
    "http://receiver.example\\@10.0.0.1/",
    "http://10.0.0.1 /",
    "http:/127.0.0.1/",
    "HTTP://127.0.0.1/",
    "dict://127.0.0.1:11211/",
    "ws://127.0.0.1/",
    "javascript:alert(1)",
    "data:text/plain,x",
    "//10.0.0.1/",
]


@pytest.mark.parametrize("url", BRIEF + MORE)
@pytest.mark.parametrize("kind", INTEGRATIONS)
def test_non_public_receiver_urls_are_refused_at_config_time(kind, url, monkeypatch, tripwire):
    if kind == "slack" and url.startswith("http"):
        url = slack_path(url)
    with pytest.raises((BlockedURL, ValidationError)) as info:
        built(kind, url, monkeypatch)
    assert SLACK_SECRET not in str(info.value)  # the Slack URL is the credential: never in the error
    assert tripwire == []


def direct(kind: str, url: str, **kwargs):
    """A notifier as anyone would build it, default settings: no transport, no allow_hosts
    (the APPWATCH_WEBHOOK_URL path, the demo, a library user)."""
    from alerts.notify.alertmanager import AlertmanagerNotifier
    from alerts.notify.pagerduty import PagerDutyNotifier
    from alerts.notify.slack import SlackNotifier

    return {
        "webhook": lambda: WebhookNotifier("webhook", url, "whsec_" + "A" * 32, **kwargs),
        "slack": lambda: SlackNotifier(url, **kwargs),
        "alertmanager": lambda: AlertmanagerNotifier("am", url, **kwargs),
        "pagerduty": lambda: PagerDutyNotifier("pd", PD_KEY, url=url, **kwargs),
    }[kind]()


@pytest.mark.parametrize("url", BRIEF + MORE)
@pytest.mark.parametrize("kind", INTEGRATIONS)
def test_every_notifier_refuses_them_by_default(kind, url, tripwire):
    if kind == "slack" and url.startswith("http"):
        url = slack_path(url)
    with pytest.raises(BlockedURL) as info:
        direct(kind, url)
    assert SLACK_SECRET not in str(info.value) and tripwire == []


@pytest.mark.parametrize(
    "allow, url",
    [
        (["127.0.0.1"], "http://127.0.0.2/"),
        (["127.0.0.1"], "http://[::1]/"),
        (["127.0.0.1"], "http://localhost/"),
        (["127.0.0.1"], "http://127.1/"),
        (["127.0.0.1"], "http://2130706433/"),
        (["localhost"], "http://127.0.0.1/"),
        (["localhost"], "http://localhost.evil.example@10.0.0.1/"),
        (["10.0.0.1"], "http://10.0.0.2/"),
        (["127.0.0.1"], "gopher://127.0.0.1/"),
        (["127.0.0.1"], "file://127.0.0.1/etc/passwd"),
    ],
)
@pytest.mark.parametrize("kind", INTEGRATIONS)
def test_allow_hosts_admits_exactly_what_it_names(kind, allow, url, monkeypatch, tripwire):
    if kind == "slack" and url.startswith("http"):
        url = slack_path(url)
    with pytest.raises((BlockedURL, ValidationError)):
        built(kind, url, monkeypatch, allow)
    assert tripwire == []


# --------------------------------------------------------------------------- request time: DNS

PUBLIC = "93.184.216.34"
ANSWERS = [
    ["127.0.0.1"],
    ["::1"],
    ["169.254.169.254"],
    ["10.0.0.1"],
    ["172.16.0.1"],
    ["192.168.1.1"],
    ["fc00::1"],
    ["0.0.0.0"],
    ["::ffff:127.0.0.1"],
    ["::ffff:169.254.169.254"],
    ["192.0.0.192"],
    ["fd00:ec2::254"],
    ["100.100.100.200"],
    [PUBLIC, "10.0.0.1"],
    ["2606:2800:220:1::1", "::1"],
]
NAMES = {
    "webhook": "https://hooks.receiver.example/in",
    "slack": "https://hooks.slack.com/services/T0001/B0001/" + SLACK_SECRET,
    "alertmanager": "https://alertmanager.example",
    "pagerduty": "https://events.pagerduty.com/v2/enqueue",
}


@pytest.fixture
def resolver(monkeypatch):
    """The guard's resolver (core.ssrf.system_resolver): host -> answers; records calls."""
    answers: dict[str, list[str]] = {}
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    monkeypatch.setattr(ssrf, "system_resolver", resolve)
    return answers, calls


def run(coro):
    return asyncio.run(coro)


async def deliver_once(notifier) -> tuple[str, int, Exception | None]:
    """Deliver ALERT with a fast retry policy: (outcome, attempts, error)."""
    registry, errors = CollectorRegistry(), []

    async def no_sleep(_):
        return None

    async def on_failed(_n, _a, err):
        errors.append(err)

    outcome = await deliver(
        notifier,
        ALERT,
        RetryPolicy(max_attempts=3, initial=0.01, max_age=30),
        DeliveryMetrics(registry),
        sleep=no_sleep,
        on_failed=on_failed,
    )
    attempts = registry.get_sample_value("appwatch_notification_attempts_total", {"receiver": notifier.name})
    await notifier.aclose()
    return outcome, int(attempts or 0), errors[0] if errors else None


@pytest.mark.parametrize("answers", ANSWERS, ids=lambda a: "+".join(a))
@pytest.mark.parametrize(
    "kind",
    [
        *INTEGRATIONS[:3],
        "pagerduty",
    ],
)
def test_names_resolving_to_non_public_addresses_are_refused_once(kind, answers, resolver, monkeypatch, tripwire):
    table, calls = resolver
    url = NAMES[kind]
    table[httpx.URL(url).host] = answers
    notifier = built(kind, url, monkeypatch)  # a public-looking name passes config time
    outcome, attempts, error = run(deliver_once(notifier))
    assert calls and tripwire == []  # resolved, checked, never connected
    assert SLACK_SECRET not in str(error) and PD_KEY not in str(error)
    assert (outcome, attempts) == ("failed", 1), (outcome, attempts, error)  # refused for good, not retried
    assert isinstance(error, BlockedAddress)


@pytest.mark.parametrize("kind", INTEGRATIONS)
def test_built_directly_a_name_resolving_to_a_non_public_address_is_refused(kind, resolver, tripwire):
    table, calls = resolver
    for answers in ANSWERS:
        table[httpx.URL(NAMES[kind]).host] = answers
        notifier = direct(kind, NAMES[kind])
        outcome, attempts, error = run(deliver_once(notifier))
        assert (outcome, attempts) == ("failed", 1) and isinstance(error, BlockedAddress), (answers, error)
    assert calls and tripwire == []


@pytest.mark.parametrize("kind", INTEGRATIONS)
def test_built_directly_a_redirect_is_not_followed(kind, local_server, tripwire):
    local_server.expect_request(re.compile(".*")).respond_with_response(
        Response(status=307, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
    )
    notifier = direct(kind, local_url(kind, local_server), allow_hosts=["127.0.0.1"])
    error = run(notifier.notify([ALERT]))
    run(notifier.aclose())
    assert error is not None and error.status == 307 and not error.retryable
    assert len(local_server.log) == 1 and tripwire == ["127.0.0.1"]


@pytest.mark.parametrize("kind", INTEGRATIONS)
def test_names_resolving_to_non_public_addresses_never_connect(kind, resolver, monkeypatch, tripwire):
    """Whatever the retry policy makes of it, no request leaves."""
    table, _ = resolver
    for answers in ANSWERS:
        table[httpx.URL(NAMES[kind]).host] = answers
        error = run(built(kind, NAMES[kind], monkeypatch).notify([ALERT]))
        assert isinstance(error, BlockedAddress) and "resolves to" in str(error) and not error.retryable
        assert tripwire == []


# --------------------------------------------------------------------------- redirects, allow_hosts


@pytest.fixture(scope="module")
def _server():
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def local_server(_server):
    """One real server for the module (stopping one takes 0.5 s), cleared for each test."""
    _server.clear()
    yield _server
    _server.clear()


def local_url(kind: str, server: HTTPServer) -> str:
    base = f"http://127.0.0.1:{server.port}"
    return {
        "webhook": f"{base}/hook",
        "slack": f"{base}/services/T0001/B0001/{SLACK_SECRET}",
        "alertmanager": base,
        "pagerduty": f"{base}/v2/enqueue",
    }[kind]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/admin",
        "http://[::1]:9/",
        "http://metadata.internal.example/computeMetadata/v1/",
        "gopher://127.0.0.1:6379/_FLUSHALL",
    ],
)
@pytest.mark.parametrize("kind", INTEGRATIONS)
def test_a_redirect_from_an_allowed_server_is_not_followed(
    kind, status, target, local_server, resolver, monkeypatch, tripwire
):
    table, _ = resolver
    table["metadata.internal.example"] = ["169.254.169.254"]
    local_server.expect_request(re.compile(".*")).respond_with_response(
        Response(status=status, headers={"Location": target})
    )
    notifier = built(kind, local_url(kind, local_server), monkeypatch, ["127.0.0.1"])
    error = run(notifier.notify([ALERT]))
    run(notifier.aclose())
    assert error is not None and not error.retryable  # a redirect is not a delivery
    assert len(local_server.log) == 1  # only the allowed hop was made
    assert tripwire == ["127.0.0.1"]  # nothing went to the Location
    assert SLACK_SECRET not in str(error) and PD_KEY not in str(error)


@pytest.mark.parametrize("kind", INTEGRATIONS)
def test_only_allow_hosts_lets_a_local_receiver_get_it(kind, local_server, monkeypatch, tripwire):
    local_server.expect_request(re.compile(".*"), method="POST").respond_with_data(
        '{"status": "success"}' if kind == "pagerduty" else "", status=202 if kind == "pagerduty" else 200
    )
    url = local_url(kind, local_server)
    with pytest.raises(BlockedURL):  # not allow-listed: refused at config time
        built(kind, url, monkeypatch)
    for allow in (["10.0.0.1"], ["localhost"], ["127.0.0.2"]):
        with pytest.raises(BlockedURL):
            built(kind, url, monkeypatch, allow)
    notifier = built(kind, url, monkeypatch, ["127.0.0.1"])
    assert run(notifier.notify([ALERT])) is None
    run(notifier.aclose())
    assert len(local_server.log) == 1 and tripwire == ["127.0.0.1"]
    request, _ = local_server.log[0]
    assert request.method == "POST" and request.get_data()


def test_webhook_notifier_with_allow_hosts_delivers_signed(local_server, tripwire):
    from standardwebhooks import Webhook

    secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    local_server.expect_request("/hook", method="POST").respond_with_data("", status=204)
    url = f"http://127.0.0.1:{local_server.port}/hook"
    notifier = WebhookNotifier("webhook", url, secret, allow_hosts=["127.0.0.1"])
    assert run(notifier.notify([ALERT])) is None
    run(notifier.aclose())
    request, _ = local_server.log[0]
    payload = Webhook(secret).verify(request.get_data(), {k.lower(): v for k, v in request.headers.items()})
    assert payload["data"]["alert_id"] == ALERT.alert_id and tripwire == ["127.0.0.1"]
