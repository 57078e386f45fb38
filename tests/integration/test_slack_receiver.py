"""SlackNotifier against a real HTTP receiver on 127.0.0.1 that answers like Slack."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from alerts.notify.slack import RateLimiter, SlackError, SlackNotifier, blocks
from core.alert import Alert, alert_id


@pytest.fixture
def slack():
    """A fake Slack webhook: 429 ``rate_limited`` with ``Retry-After: 1`` first, then 200 ``ok``."""
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    got: list[tuple[dict, bytes]] = []
    answers = [Response("rate_limited", status=429, headers={"Retry-After": "1"}, content_type="text/plain")]
    lock = threading.Lock()

    def handle(request: Request) -> Response:
        with lock:
            got.append((dict(request.headers), request.get_data()))
            return answers.pop(0) if answers else Response("ok", status=200, content_type="text/plain")

    server.expect_request("/services/T0/B0/XYZ", method="POST").respond_with_handler(handle)
    yield server.url_for("/services/T0/B0/XYZ"), got
    server.clear()
    server.stop()


def test_rate_limited_then_delivered(slack):
    url, got = slack
    assert url.startswith("http://127.0.0.1:")
    labels = {"app_id": "doubao", "platform": "all", "country": "cn", "metric": "downloads"}
    alert = Alert(
        alert_id=alert_id("download-spike", labels, "2024-11-14T00:00:00+08:00"),
        rule="download-spike",
        kind="spike",
        labels=labels,
        value=2.4e6,
        baseline=8e5,
        window_start="2024-11-14T00:00:00+08:00",
        event_ts="2024-11-14T00:00:00+08:00",
        summary="豆包 downloads 2.4M <3.0×>",
        context=[
            {
                "event_id": "n1",
                "ts": "2024-11-13T09:00:00+08:00",
                "title": "字节跳动挖角阿里通义千问技术负责人",
                "url": "https://news.test/a",
                "kind": "hire",
                "companies": ["bytedance"],
                "people": [],
            }
        ],
    )
    t, slept = [0.0], []

    async def fake_sleep(s: float) -> None:  # the limiter's waits are recorded, not slept
        slept.append(s)
        t[0] += s

    limiter = RateLimiter(clock=lambda: t[0], sleep=fake_sleep)

    async def main():
        n = SlackNotifier(url, limiter=limiter, timeout=5, allow_hosts=["127.0.0.1"])
        try:
            first = await n.notify([alert])
            second = await n.notify([alert])
        finally:
            await n.aclose()
        return first, second

    err, second = asyncio.run(main())
    assert isinstance(err, SlackError) and err.retryable is True
    assert err.status == 429 and err.retry_after == 1 and err.body == "rate_limited"
    assert second is None
    assert slept == [1]  # the second post waited out Retry-After

    assert len(got) == 2
    for headers, raw in got:
        assert headers["Content-Type"] == "application/json; charset=utf-8"
        payload = json.loads(raw.decode("utf-8"))
        assert payload == blocks([alert])
        assert payload["blocks"][0] == {
            "type": "header",
            "text": {"type": "plain_text", "text": "🔥 firing: download-spike", "emoji": True},
        }
        assert "豆包 downloads 2.4M &lt;3.0×&gt;" in payload["blocks"][1]["text"]["text"]
        assert "字节跳动挖角阿里通义千问技术负责人".encode() in raw
