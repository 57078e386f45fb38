"""The shared HTTP helper, with httpx.MockTransport (no sockets) and a fake clock/sleep."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest

from connectors.errors import FetchError, PayloadError
from connectors.http import Http, HttpOptions
from core.retry import retry_after

pytestmark = pytest.mark.anyio

URL = "http://127.0.0.1:9/api/apps.json"
NOW = datetime(2024, 11, 26, 4, 40, tzinfo=UTC).timestamp()


def script(*responses):
    """A transport answering with ``responses`` in order (an exception is raised instead)."""
    seen: list[httpx.Request] = []
    todo = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        r = todo.pop(0)
        if isinstance(r, Exception):
            raise r
        return r

    return httpx.MockTransport(handler), seen


def make(transport, sleeps, **opts) -> Http:
    async def sleep(s):
        sleeps.append(s)

    return Http(HttpOptions(**opts), transport=transport, sleep=sleep, clock=lambda: NOW)


def test_retry_after_parsing():
    assert retry_after("120", NOW) == 120
    date = format_datetime(datetime.fromtimestamp(NOW + 30, UTC), usegmt=True)
    assert retry_after(date, NOW) == 30  # "Tue, 26 Nov 2024 04:40:30 GMT"
    assert retry_after("Mon, 25 Nov 2024 00:00:00 GMT", NOW) == 0  # in the past
    assert retry_after("soon", NOW) is None and retry_after(None, NOW) is None


async def test_429_with_an_http_date_is_honoured_and_capped():
    date = format_datetime(datetime.fromtimestamp(NOW + 45, UTC), usegmt=True)
    transport, seen = script(
        httpx.Response(429, headers={"Retry-After": date}),
        httpx.Response(503, headers={"Retry-After": "3600"}),
        httpx.Response(200, json={"ok": True}),
    )
    sleeps: list[float] = []
    async with make(transport, sleeps, max_retry_after=600) as http:
        resp = await http.get_json(URL)
    assert resp.data == {"ok": True} and sleeps == [45.0, 600.0]


async def test_429_until_retries_run_out_is_rate_limited():
    transport, seen = script(*[httpx.Response(429)] * 3)
    sleeps: list[float] = []
    async with make(transport, sleeps, retries=2, backoff=1) as http:
        with pytest.raises(FetchError) as err:
            await http.get_json(URL)
    assert err.value.reason == "rate_limited" and sleeps == [1, 2]  # no Retry-After: backoff


async def test_4xx_is_not_retried():
    transport, seen = script(httpx.Response(404, text="Not Found"))
    sleeps: list[float] = []
    async with make(transport, sleeps) as http:
        with pytest.raises(FetchError, match=r"apps.json: HTTP 404 \(Not Found\)") as err:
            await http.get_json(URL)
    assert err.value.reason == "http_404" and len(seen) == 1 and sleeps == []


async def test_timeouts_are_retried_with_capped_backoff():
    timeouts = [httpx.ReadTimeout("slow")] * 5
    transport, seen = script(*timeouts)
    sleeps: list[float] = []
    async with make(transport, sleeps, backoff=1, max_backoff=3) as http:
        with pytest.raises(FetchError) as err:
            await http.get_json(URL)
    assert err.value.reason == "timeout" and sleeps == [1, 2, 3, 3] and len(seen) == 5


async def test_connection_error_then_success():
    transport, seen = script(httpx.ConnectError("refused"), httpx.Response(200, json=[1]))
    sleeps: list[float] = []
    async with make(transport, sleeps) as http:
        assert (await http.get_json(URL)).data == [1]
    assert sleeps == [0.5]


async def test_malformed_json_names_the_url():
    transport, _ = script(httpx.Response(200, content=b"<html>maintenance</html>"))
    async with make(transport, []) as http:
        with pytest.raises(
            PayloadError,
            match=r"http://127.0.0.1:9/api/apps.json\?country=cn: "
            r"malformed JSON",
        ) as err:
            await http.get_json(URL, {"country": "cn"})
    assert err.value.reason == "bad_json" and err.value.url.endswith("?country=cn")


async def test_conditional_get_sends_validators_and_reads_304():
    transport, seen = script(
        httpx.Response(200, json={"a": 1}, headers={"ETag": 'W/"x"', "Last-Modified": "Mon, 25 Nov 2024 00:00:00 GMT"}),
        httpx.Response(304),
    )
    async with make(transport, []) as http:
        first = await http.get_json(URL)
        second = await http.get_json(URL, validators=first.validators)
    assert first.validators == {"etag": 'W/"x"', "last_modified": "Mon, 25 Nov 2024 00:00:00 GMT"}
    assert "if-none-match" not in seen[0].headers
    assert seen[1].headers["if-none-match"] == 'W/"x"'
    assert seen[1].headers["if-modified-since"] == "Mon, 25 Nov 2024 00:00:00 GMT"
    assert second.not_modified and second.data is None


def test_url_keys_merge_params():
    assert Http.url("http://h/lookup?x=1", {"id": "1,2"}) == "http://h/lookup?x=1&id=1%2C2"
    assert Http.url("http://h/a.json") == "http://h/a.json"


async def test_408_and_425_are_retried_like_the_notifiers():
    """core.retry's statuses: 408, 425, 429 and 5xx, for connectors as for notifiers."""
    transport, seen = script(httpx.Response(408), httpx.Response(425), httpx.Response(200, json=[]))
    sleeps: list[float] = []
    async with make(transport, sleeps, backoff=1) as http:
        assert (await http.get_json(URL)).data == []
    assert sleeps == [1, 2] and len(seen) == 3


async def test_jitter_comes_from_the_injected_rng_and_stays_under_max_backoff():
    transport, seen = script(*[httpx.Response(503)] * 4)
    sleeps: list[float] = []
    rolls = iter([1.0, 0.0, 0.75])

    async def sleep(s):
        sleeps.append(s)

    http = Http(
        HttpOptions(retries=3, backoff=2, max_backoff=4, jitter=0.5),
        transport=transport,
        sleep=sleep,
        clock=lambda: NOW,
        rng=lambda: next(rolls),
    )
    async with http:
        with pytest.raises(FetchError) as err:
            await http.get_json(URL)
    # 2 s +50 %, 4 s -50 %, 4 s +25 % capped at max_backoff
    assert sleeps == [3.0, 2.0, 4.0] and err.value.reason == "http_503" and len(seen) == 4
