"""Standard Webhooks signed POST of an alert.

Body: ``{"type": "alert.firing", "timestamp": ..., "data": <alert>}``.
Headers: ``webhook-id`` (stable across retries: derived from the alert id and
status), ``webhook-timestamp`` and ``webhook-signature`` (``v1,<base64>``)
when a ``whsec_`` secret is set.

One request per alert of a notification, in order, stopping at the first failure (a
retry sends them all again: receivers dedup by ``webhook-id``).

Errors returned (never raised), ``core.retry.DeliveryError``s, see ``alerts.notify``:
    core.ssrf.BlockedAddress  the URL resolved to a non-public address  -> no retry
    DeliveryError             connection refused, timeout ... (the httpx
                              error is its ``__cause__``)                 -> retry
                              a template that cannot render              -> permanent
    WebhookError              non-2xx response; retry on 408/425/429/5xx,
                              ``retry_after`` from Retry-After; 410 is ``permanent``

Without an injected transport, requests go through the SSRF guard
(``core.ssrf.GuardedTransport``): only public addresses, or ``allow_hosts``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import httpx
import orjson
from standardwebhooks import Webhook

from alerts.notify import OneByOne, Result
from core.alert import Alert
from core.retry import DeliveryError, as_delivery_error
from core.ssrf import guarded_client


def _compile(source: str):
    """A sandboxed Jinja2 template with a ``tojson`` filter; a syntax error is a ValueError."""
    from jinja2 import TemplateSyntaxError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(autoescape=False)
    env.filters["tojson"] = lambda v: orjson.dumps(v).decode()
    try:
        return env.from_string(source)
    except TemplateSyntaxError as exc:
        raise ValueError(f"webhook template, line {exc.lineno}: {exc.message}") from None


class WebhookError(DeliveryError):
    """A non-2xx answer; ``retry_after``: seconds, from a 429/503 Retry-After."""

    def __init__(self, status: int, body: str, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {body[:200]}", status=status, retry_after=retry_after)
        self.body = body


def message_id(alert: Alert) -> str:
    return f"msg_{alert.alert_id}_{alert.status}"


class WebhookNotifier(OneByOne):
    kind = "webhook"

    def __init__(
        self,
        name: str,
        url: str,
        secret: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        allow_hosts: Iterable[str] = (),
        template: str | None = None,
    ) -> None:
        """``template``: an optional Jinja2 template (sandboxed) that renders the body from
        ``alert`` (a dict), ``type`` and ``timestamp``, for endpoints that want their own
        shape; it is signed like the default body."""
        self.name = name
        self.url = url
        self._template = _compile(template) if template else None
        self._signer = Webhook(secret) if secret else None
        self.signed = self._signer is not None
        self._headers = headers or {}
        self._clock = clock
        self._client = guarded_client(url, allow_hosts=allow_hosts, timeout=timeout, transport=transport)

    def request(self, alert: Alert) -> tuple[bytes, dict[str, str]]:
        now = datetime.fromtimestamp(self._clock(), UTC)
        kind, stamp = f"alert.{alert.status}", now.isoformat().replace("+00:00", "Z")
        if self._template is not None:
            body = self._template.render(alert=alert.model_dump(mode="json"), type=kind, timestamp=stamp).encode()
        else:
            body = orjson.dumps({"type": kind, "timestamp": stamp, "data": alert.model_dump(mode="json")})
        msg_id = message_id(alert)
        headers = {
            **self._headers,
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
        }
        if self._signer:
            headers["webhook-signature"] = self._signer.sign(msg_id, now, body.decode())
        return body, headers

    async def _send(self, alert: Alert) -> Result:
        """POST one alert."""
        try:
            body, headers = self.request(alert)
        except Exception as exc:  # noqa: BLE001 - a template that cannot render: permanent
            return as_delivery_error(exc, retryable=False)
        try:
            resp = await self._client.post(self.url, content=body, headers=headers)
        except httpx.TransportError as exc:  # BlockedAddress (final) included: it is a DeliveryError
            return as_delivery_error(exc)
        if resp.is_success:
            return None
        return WebhookError.from_response(resp, self._clock(), body=resp.text)

    async def aclose(self) -> None:
        await self._client.aclose()
