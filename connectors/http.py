"""The HTTP helper every connector shares (httpx.AsyncClient; transport injectable).

- timeouts; retries with exponential backoff on 408, 425, 429, 5xx, timeouts and
  connection errors: the notifiers' rule, ``core.retry`` (``retryable_status`` and the
  waits of ``next_wait``, with a ``RetryPolicy`` made from ``HttpOptions``);
- ``429``/``503`` ``Retry-After`` (seconds or HTTP-date) honoured, capped;
- conditional GET: ETag / Last-Modified per URL; ``304`` means "no new data";
- malformed JSON is a ``PayloadError`` naming the URL;
- ``get_bytes`` is the same GET for non-JSON bodies (feeds): the raw body and its
  Content-Type, with the same retries and conditional GET.

Validators are not stored by the client: ``get_json``/``get_bytes`` return them, and the caller
commits them to the checkpoint only once the response's events are published.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, Field

from connectors.errors import FetchError, PayloadError
from core.retry import DeliveryError, RetryPolicy, next_wait

log = logging.getLogger(__name__)

USER_AGENT = "appwatch-connector/0.1 (+https://github.com/appwatch)"


class HttpOptions(BaseModel):
    timeout: float = Field(10.0, gt=0, description="seconds, per request")
    retries: int = Field(4, ge=0, description="extra attempts after the first")
    backoff: float = Field(0.5, ge=0, description="first backoff in seconds; doubles per retry")
    max_backoff: float = Field(30.0, ge=0)
    max_retry_after: float = Field(300.0, ge=0, description="cap on a server's Retry-After")
    jitter: float = Field(0.0, ge=0, le=1, description="random +/- fraction of each backoff (within max_backoff)")

    def policy(self) -> RetryPolicy:
        """These options as the shared retry policy (no limit on the time spent)."""
        return RetryPolicy(
            max_attempts=self.retries + 1,
            initial=self.backoff,
            max_wait=self.max_backoff,
            max_age=math.inf,
            jitter=self.jitter,
            max_retry_after=self.max_retry_after,
        )


@dataclass
class Response:
    url: str
    data: Any  # decoded JSON (get_json) or the body bytes (get_bytes); None when not modified
    validators: dict[str, str]  # etag / last_modified to remember for this URL
    not_modified: bool = False
    content_type: str = ""  # the response's Content-Type header


class Http:
    def __init__(
        self,
        options: HttpOptions | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.options = options or HttpOptions()
        self.sleep, self.clock, self.rng = sleep, clock, rng
        self.client = httpx.AsyncClient(
            transport=transport,
            timeout=self.options.timeout,
            follow_redirects=True,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def __aenter__(self) -> Http:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    @staticmethod
    def url(url: str, params: dict | None = None) -> str:
        """The full URL (query included): the key under which validators are remembered."""
        return str(httpx.URL(url).copy_merge_params(params)) if params else str(httpx.URL(url))

    async def get_json(
        self, url: str, params: dict | None = None, validators: dict[str, str] | None = None
    ) -> Response:
        """GET ``url`` as JSON; send the remembered ``validators`` as a conditional GET."""
        resp = await self.get_bytes(url, params, validators)
        if resp.not_modified:
            return resp
        try:
            resp.data = json.loads(resp.data)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise PayloadError(f"{resp.url}: malformed JSON: {exc}", "bad_json", resp.url) from None
        return resp

    async def get_bytes(
        self, url: str, params: dict | None = None, validators: dict[str, str] | None = None, accept: str | None = None
    ) -> Response:
        """GET ``url``; ``data`` is the raw body (bytes). Conditional and retried like get_json."""
        full = self.url(url, params)
        headers = {"Accept": accept} if accept else {}
        if validators and validators.get("etag"):
            headers["If-None-Match"] = validators["etag"]
        if validators and validators.get("last_modified"):
            headers["If-Modified-Since"] = validators["last_modified"]
        resp = await self._get(full, headers)
        if resp.status_code == 304:
            return Response(full, None, dict(validators or {}), not_modified=True)
        found = {
            k: v
            for k, v in (("etag", resp.headers.get("etag")), ("last_modified", resp.headers.get("last-modified")))
            if v
        }
        return Response(full, resp.content, found, content_type=resp.headers.get("content-type", ""))

    async def _get(self, url: str, headers: dict[str, str]) -> httpx.Response:
        """GET with retries; the wait or the giving up is ``core.retry.next_wait``'s."""
        policy, attempt = self.options.policy(), 0
        while True:
            attempt += 1
            try:
                resp = await self.client.get(url, headers=headers)
            except httpx.TransportError as exc:
                timeout = isinstance(exc, httpx.TimeoutException)
                delay = next_wait(attempt, exc, policy, rand=self.rng)
                if delay is None:
                    what = "timed out" if timeout else "connection failed"
                    raise FetchError(
                        f"{url}: {what} after {attempt} attempts: {exc!r}", "timeout" if timeout else "connection", url
                    ) from None
                why = f"timeout {exc!r}" if timeout else f"connection error {exc!r}"
            else:
                status = resp.status_code
                if status < 400:  # 304 included
                    return resp
                err = DeliveryError.from_response(resp, self.clock(), message=f"HTTP {status}")
                delay = next_wait(attempt, err, policy, rand=self.rng)
                if delay is None and not err.retryable:
                    raise FetchError(f"{url}: HTTP {status} {_snippet(resp)}", f"http_{status}", url)
                if delay is None:
                    reason = "rate_limited" if status == 429 else f"http_{status}"
                    raise FetchError(f"{url}: HTTP {status} after {attempt} attempts {_snippet(resp)}", reason, url)
                after = err.retry_after
                why = f"HTTP {status}" + (f" Retry-After {after:g}s" if after is not None else "")
            log.info("GET %s: %s; retry %d/%d in %.2fs", url, why, attempt, policy.max_attempts - 1, delay)
            await self.sleep(delay)


def _snippet(resp: httpx.Response, n: int = 200) -> str:
    text = resp.text.strip().replace("\n", " ")
    return f"({text[:n]}{'...' if len(text) > n else ''})" if text else ""
