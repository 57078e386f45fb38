"""Secrets never leak: a real worker with a signed webhook, Slack and PagerDuty receivers.

The worker gets distinctive secrets: the webhook signing key (``whsec_…``), the Slack
incoming-webhook URL (the URL *is* the credential) and the PagerDuty routing key, from
the environment, as in production. Two alerts fire; every receiver (a real loopback
HTTP server) accepts the first request and answers the next one 400 with an echo of
what it got (``Cannot POST /path`` and the body, as an Express error page or a WAF
would), so that deliveries fail permanently and go to the notifications DLQ with the
receiver's answer. Then every secret, in every encoding we can think of, must be absent
from: the worker's log, ``/metrics``, the DLQ, the notifications DLQ, the alerts topic,
and what each receiver got (except the PagerDuty key in PagerDuty's own body, where
the protocol puts it, and the Slack URL as the Slack request's own target).
"""

from __future__ import annotations

import base64
import os
import re
import threading
from urllib.parse import quote, quote_plus

import httpx
import orjson
import pytest
from kafka import KafkaConsumer
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from connectors.publish import Publisher
from core.events import validate
from tests.conftest import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

RAW_KEY = b"LEAK-whsec-raw-key-" + os.urandom(8)
WHSEC = "whsec_" + base64.b64encode(RAW_KEY).decode()
SLACK_TOKEN = "LEAKslackT0kenXyZ" + os.urandom(6).hex()
PD_KEY = "LEAKpdR0uting" + os.urandom(10).hex()
API_WRITE = "LEAKapiWrite" + os.urandom(8).hex()
API_READ = "LEAKapiRead" + os.urandom(8).hex()


def forms(secret: str | bytes) -> set[bytes]:
    """A secret as text, URL-encoded, base64 (standard, URL-safe, unpadded) and hex."""
    raw = secret if isinstance(secret, bytes) else secret.encode()
    b64 = base64.b64encode(raw)
    out = {
        raw,
        b64,
        b64.rstrip(b"="),
        base64.urlsafe_b64encode(raw),
        base64.urlsafe_b64encode(raw).rstrip(b"="),
        raw.hex().encode(),
        raw.hex().upper().encode(),
    }
    if isinstance(secret, str):
        out |= {quote(secret, safe="").encode(), quote_plus(secret).encode()}
    return {f for f in out if len(f) >= 8}


class Receivers:
    """One loopback server for the three integrations: first request on a path gets a 2xx,
    every later one a 400 that echoes the request line and body."""

    OK = {"/hook": 204, "/v2/enqueue": 202}

    def __init__(self, server: HTTPServer) -> None:
        self.server, self.got = server, []
        self.seen: dict[str, int] = {}
        self.lock = threading.Condition()
        server.expect_request(re.compile(".*"), method="POST").respond_with_handler(self.handle)

    def handle(self, request: Request) -> Response:
        path, body = request.path, request.get_data()
        with self.lock:
            self.got.append((path, dict(request.headers), body))
            n = self.seen[path] = self.seen.get(path, 0) + 1
            self.lock.notify_all()
        if n == 1:
            status = self.OK.get(path, 200)
            return Response('{"status":"success"}' if path == "/v2/enqueue" else "ok", status=status)
        echo = f"Cannot POST {request.full_path}\n".encode() + body
        return Response(echo, status=400, content_type="text/plain")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.port}{path}"


@pytest.fixture
def receivers():
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield Receivers(server)
    server.clear()
    server.stop()


def day(app_id: str, d: int, value: float):
    return validate(
        dict(
            event_id=f"leak:{app_id}:{d}",
            type="app.metric",
            source="leak-test",
            ts=f"2024-11-{d:02d}T00:00:00+08:00",
            app_id=app_id,
            app_name=app_id.title(),
            platform="all",
            country="cn",
            metric="downloads",
            value=value,
            period="day",
        )
    )


def read_all(broker: str, topic: str, timeout_ms: int = 3000) -> list:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=broker, auto_offset_reset="earliest", consumer_timeout_ms=timeout_ms
    )
    try:
        return list(consumer)
    finally:
        consumer.close()


def test_no_secret_leaks_anywhere(broker, topics, start_worker, receivers, tmp_path):
    slack_url = receivers.url(f"/services/T0LEAK/B0LEAK/{SLACK_TOKEN}")
    config = tmp_path / "alerts.yaml"
    config.write_text(f"""\
route:
  receiver: all
  group_by: [alert_id]
  group_wait: 0s
receivers:
  - name: all
    webhook_configs: [{{url: "{receivers.url("/hook")}", secret_env: APPWATCH_WEBHOOK_SECRET}}]
    slack_configs: [{{url_env: LEAK_SLACK_URL}}]
    pagerduty_configs: [{{routing_key_env: LEAK_PD_KEY, url: "{receivers.url("/v2/enqueue")}"}}]
allow_hosts: [127.0.0.1]
""")
    w = start_worker(
        topics,
        APPWATCH_WEBHOOK_URL=receivers.url("/hook"),
        APPWATCH_WEBHOOK_SECRET=WHSEC,
        APPWATCH_ALERTS_CONFIG=str(config),
        LEAK_SLACK_URL=slack_url,
        LEAK_PD_KEY=PD_KEY,
        APPWATCH_LOG_LEVEL="info",
        APPWATCH_API_WRITE_TOKENS=API_WRITE,
        APPWATCH_API_READ_TOKENS=API_READ,
    )
    with Publisher(broker, topics) as pub:
        for app, base in (("doubao", 800_000), ("kimi", 250_000)):
            pub.send_all([*(day(app, d, base) for d in range(1, 8)), day(app, 8, base * 3)])
        pub.send_raw(topics.metrics, b'{"type": "app.metric", "broken"')  # something in the DLQ
        pub.flush()

    with receivers.lock:  # both alerts, at each of the three receivers
        assert receivers.lock.wait_for(
            lambda: all(
                receivers.seen.get(p, 0) >= 2
                for p in ("/hook", "/v2/enqueue", f"/services/T0LEAK/B0LEAK/{SLACK_TOKEN}")
            ),
            90,
        ), receivers.seen
    failed = wait_until(
        lambda: (r := read_all(broker, topics.notifications_dlq, 1000)) and len(r) >= 3 and r,
        60,
        "three permanent failures in the notifications DLQ",
    )
    assert {orjson.loads(m.value)["receiver"].split("/")[1] for m in failed} == {"webhook", "slack", "pagerduty"}
    wait_until(lambda: w.metric("appwatch_events_invalid_total") == 1, 30, "the DLQ record")

    api = f"{w.url}/api/v1/silences"  # the API used with each token, right and wrong
    answers = [
        httpx.get(api, headers={"Authorization": f"Bearer {API_READ}"}, timeout=5),
        httpx.post(
            api,
            json={"matchers": ['app_id="none"'], "ends_at": 2e9, "created_by": "t", "comment": "c"},
            headers={"Authorization": f"Bearer {API_WRITE}"},
            timeout=5,
        ),
        httpx.post(api, json={}, headers={"Authorization": f"Bearer {API_READ}"}, timeout=5),
        httpx.get(api, headers={"Authorization": f"Bearer {API_WRITE}x"}, timeout=5),
    ]
    assert [r.status_code for r in answers] == [200, 201, 403, 401]
    places: dict[str, bytes] = {
        "API answers": b"\n".join(str(r.headers).encode() + r.content for r in answers),
        "worker log": w.log.read_bytes(),
        "/metrics": httpx.get(f"{w.url}/metrics", timeout=5).content,
    }
    for name, topic in (
        ("DLQ", topics.dlq),
        ("notifications DLQ", topics.notifications_dlq),
        ("alerts topic", topics.alerts),
    ):
        msgs = read_all(broker, topic)
        assert msgs, f"nothing on the {name}"
        places[name] = b"\n".join((m.key or b"") + b" " + (m.value or b"") for m in msgs)
    for i, (path, headers, body) in enumerate(receivers.got):
        head = "\n".join(f"{k}: {v}" for k, v in headers.items()).encode()
        if path == "/v2/enqueue":  # PagerDuty's protocol carries the key, in routing_key only
            event = orjson.loads(body)
            assert event["routing_key"] == PD_KEY
            body = orjson.dumps({k: v for k, v in event.items() if k != "routing_key"})
        places[f"request {i} to {path.replace(SLACK_TOKEN, '<token>')} (headers and body)"] = head + b"\n" + body

    secrets = {
        "webhook secret": forms(WHSEC) | forms(RAW_KEY) | forms(WHSEC.removeprefix("whsec_")),
        "Slack URL": forms(slack_url) | forms(SLACK_TOKEN),
        "PagerDuty key": forms(PD_KEY),
        "API write token": forms(API_WRITE),
        "API read token": forms(API_READ),
    }
    leaks = [
        f"{what} in the {where}"
        for where, data in places.items()
        for what, variants in secrets.items()
        if any(v in data for v in variants)
    ]
    assert not leaks, leaks
