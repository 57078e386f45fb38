"""Secret redaction: URLs for logs/metric labels, the logging filter (reading secrets: test_secrets)."""

from __future__ import annotations

import logging
from urllib.parse import quote

import httpx
import pytest

from core.redact import RedactingFilter, looks_secret, redact_url

SLACK = "https://hooks.slack.com/services/T0AB12CDE/B0FG34HIJ/aBcDeFgHiJkLmNoPqRsTuVwX"
TOKEN = "xoxb-1234567890-abcdefGHIJKL"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


# --------------------------------------------------------------------------- redact_url


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/services/***"),
        (SLACK, "https://hooks.slack.com/services/***"),
        ("https://u:p@host/x?token=abc", "https://host/x?token=***"),
        ("https://user@host.example:8443/a?b=1&c=&d", "https://host.example:8443/a?b=***&c=***&d"),
        ("https://discord.com/api/webhooks/123456789012345678/abcDEF_ghi-jkl", "https://discord.com/api/webhooks/***"),
        (
            "https://acme.webhook.office.com/webhookb2/1234-abcd@5678/IncomingWebhook/ff00/aa11",
            "https://acme.webhook.office.com/webhookb2/***",
        ),
        ("https://hooks.zapier.com/hooks/catch/123/abc/", "https://hooks.zapier.com/hooks/***"),
        ("https://api.telegram.org/bot123456:ABC-DEF1234ghIkl/sendMessage", "https://api.telegram.org/***"),
        ("https://x.example/v1/550e8400-e29b-41d4-a716-446655440000/ack", "https://x.example/v1/***"),
        ("https://x.example/in/" + "a1" * 20, "https://x.example/in/***"),
        (
            "https://chat.googleapis.com/v1/spaces/AAA/messages?key=AIzaSy&token=t0k",
            "https://chat.googleapis.com/v1/spaces/AAA/messages?key=***&token=***",
        ),
        ("https://x.example/p#access_token=abc", "https://x.example/p#***"),
        # nothing secret: unchanged (apart from user info/query values)
        ("https://events.pagerduty.com/v2/enqueue", "https://events.pagerduty.com/v2/enqueue"),
        ("http://alertmanager.internal:9093/api/v2/alerts", "http://alertmanager.internal:9093/api/v2/alerts"),
        ("http://127.0.0.1:8080/hook", "http://127.0.0.1:8080/hook"),
        ("http://[::1]:9093/api/v2/alerts", "http://[::1]:9093/api/v2/alerts"),
        ("HTTPS://Receiver.Example/hook", "https://receiver.example/hook"),
        ("https://receiver.example", "https://receiver.example"),
        # not a URL: all of it is hidden
        ("not a url", "***"),
        ("hooks.slack.com/services/T/B/X", "***"),
        ("http://host:99999/x", "***"),
        ("", "***"),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


def test_redact_url_accepts_httpx_url_and_is_label_friendly():
    assert redact_url(httpx.URL(SLACK)) == "https://hooks.slack.com/services/***"
    # different Slack hooks of one workspace collapse to one metric label value
    other = SLACK.replace("aBcDeFgHiJkLmNoPqRsTuVwX", "zZzZzZzZzZzZzZzZzZzZzZzZ")
    assert redact_url(SLACK) == redact_url(other)


@pytest.mark.parametrize(
    "segment, secret",
    [
        ("hook", False),
        ("alerts", False),
        ("v2", False),
        ("T000", False),
        ("enqueue", False),
        ("IncomingWebhook", False),
        ("550e8400-e29b-41d4-a716-446655440000", True),
        (WHSEC, True),
        (TOKEN, True),
        ("aB3dE5fG", True),
        ("a" * 32, True),
        ("12345678901234567", True),
    ],
)
def test_looks_secret(segment, secret):
    assert looks_secret(segment) is secret


# --------------------------------------------------------------------------- RedactingFilter


@pytest.fixture
def redacting(caplog):
    """caplog whose handler redacts TOKEN, WHSEC and SLACK (attached to the handler, as in prod)."""
    f = RedactingFilter([TOKEN, WHSEC, SLACK, None, ""])
    caplog.handler.addFilter(f)
    caplog.set_level(logging.DEBUG)
    yield caplog
    caplog.handler.removeFilter(f)


def test_token_never_appears_in_captured_logs(redacting):
    log = logging.getLogger("alerts.notify.test")  # a child logger: propagates to the handler
    log.info("sending with token " + TOKEN)  # in msg
    log.warning("auth %s failed for %r", TOKEN, {"secret": WHSEC})  # in args (str and container)
    log.error("POST %s -> 500", httpx.URL(SLACK))  # object whose str() holds the secret
    log.info("query had %s", quote(TOKEN, safe=""))  # URL-encoded
    log.info("path tail %s", "T0AB12CDE/B0FG34HIJ/aBcDeFgHiJkLmNoPqRsTuVwX")  # part of a secret URL
    log.info("bad %d format", TOKEN)  # broken format args still redacted
    log.info("extra field", extra={"receiver_url": SLACK})
    try:
        raise httpx.ConnectError(f"cannot connect with {TOKEN}")
    except httpx.ConnectError:
        log.exception("delivery failed")  # traceback text
    log.info("stack", stack_info=True)

    text = redacting.text
    for secret in (TOKEN, WHSEC, SLACK, quote(TOKEN, safe=""), "aBcDeFgHiJkLmNoPqRsTuVwX"):
        assert secret not in text
        for record in redacting.records:
            assert secret not in record.getMessage()
            assert secret not in (record.exc_text or "")
            assert secret not in str(getattr(record, "receiver_url", ""))
    assert "sending with token ***" in text
    assert "auth *** failed" in text
    assert "POST *** -> 500" in text
    assert "Traceback" in text and "cannot connect with ***" in text
    assert redacting.records[6].receiver_url == "***"


def test_filter_leaves_other_messages_alone_and_ignores_short_secrets():
    f = RedactingFilter(["abc", "long-enough-secret"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "abc %s %d%%", ("long-enough-secret", 5), None)
    assert f.filter(record) is True
    assert record.getMessage() == "abc *** 5%"
    empty = RedactingFilter()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "keep %s", ("args",), None)
    assert empty.filter(record) and record.args == ("args",)


def test_filter_add_later_and_overlapping_secrets():
    f = RedactingFilter(["secret-one"])
    f.add("secret-one-and-more")
    assert f.redact("x secret-one-and-more y secret-one z") == "x *** y *** z"
    assert f.redact("https://u:hunter22@h.example/p") == "https://u:hunter22@h.example/p"
    f.add("https://u:hunter22@h.example/p")
    assert "hunter22" not in f.redact("login with password hunter22")
