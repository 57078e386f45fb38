"""PagerDuty Events API v2 (``POST https://events.pagerduty.com/v2/enqueue``).

One event per alert; ``dedup_key`` is the alert id, so the "resolved" alert
closes the incident its "firing" alert opened, and a re-sent firing alert is
merged by PagerDuty instead of opening a second incident.
    trigger   routing_key, event_action, dedup_key, payload{summary (<= 1024
              chars), source, severity, timestamp, component=app_id,
              group=rule, class=kind, custom_details}, links (related news),
              client/client_url when a generator URL base is set
    resolve   routing_key, event_action, dedup_key (PagerDuty ignores a
              payload on resolve, so none is sent)
Severity: critical, error, warning, info pass through; anything else -> warning.

The routing key is a credential: it is only ever put in the request body. It
never appears in an error, a log line or ``repr(notifier)``; response text is
redacted before it is stored in an error, and transport errors are re-wrapped
without the request (whose body holds the key).

One request per alert of a notification, in order, stopping at the first failure (a
retry sends them all again: PagerDuty merges them by ``dedup_key``).

Errors returned (never raised), ``core.retry.DeliveryError``s, see ``alerts.notify``:
    core.ssrf.BlockedAddress   the URL resolved to a non-public address  -> no retry
    PagerDutyError             the alert has an unparsable timestamp      -> permanent
      PagerDutyTransportError  connection refused, timeout ...           -> retry
      PagerDutyHTTPError       non-2xx: 408, 425, 429 and 5xx -> retry
                               (``retry_after`` seconds from Retry-After,
                               or None); 400 (invalid event) and other
                               4xx -> permanent
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import orjson

from alerts.notify import OneByOne, Result
from alerts.notify.alertmanager import parse_ts, rfc3339
from core.alert import Alert
from core.retry import DeliveryError, describe, retryable_error
from core.ssrf import BlockedAddress, guarded_client

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_CHARS = 1024
SEVERITIES = {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}
MAX_LINKS = 5
REDACTED = "<routing-key>"


class PagerDutyError(DeliveryError):
    """Base of the errors this notifier makes (BlockedAddress aside); never carries the
    routing key. As such: an event that cannot be built, permanent."""


class PagerDutyTransportError(PagerDutyError):
    """Connection refused, timeout ...: retryable. Made without the httpx error (no
    ``__cause__``): that holds the request, whose body holds the routing key."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message, retryable=retryable)


class PagerDutyHTTPError(PagerDutyError):
    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        wait = f" (retry after {retry_after:g}s)" if retry_after is not None else ""
        super().__init__(f"HTTP {status}: {message[:500]}{wait}", status=status, retry_after=retry_after)
        self.message = message


# -- payload ------------------------------------------------------------------


def severity(value: str) -> str:
    return SEVERITIES.get(value.lower(), "warning")


def truncate(text: str, n: int = SUMMARY_CHARS) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def links(alert: Alert, limit: int = MAX_LINKS) -> list[dict[str, str]]:
    out = []
    for item in alert.context:
        url = item.get("url")
        if url:
            out.append({"href": str(url), "text": truncate(str(item.get("title") or url), 256)})
        if len(out) == limit:
            break
    return out


def to_event(
    alert: Alert,
    routing_key: str,
    *,
    source: str = "appwatch",
    generator_url_base: str | None = None,
) -> dict[str, Any]:
    """The Events API v2 body for ``alert``."""
    event: dict[str, Any] = {"routing_key": routing_key, "dedup_key": alert.alert_id}
    if alert.status == "resolved":
        event["event_action"] = "resolve"
        return event
    event["event_action"] = "trigger"
    payload: dict[str, Any] = {
        "summary": truncate(alert.summary or alert.rule),
        "source": source,
        "severity": severity(alert.severity),
        "timestamp": rfc3339(parse_ts(alert.event_ts)),
        "group": alert.rule,
        "class": alert.kind,
        "custom_details": {
            "alert_id": alert.alert_id,
            "labels": alert.labels,
            "value": alert.value,
            "baseline": alert.baseline,
            "window_start": alert.window_start,
            "window_end": alert.window_end,
            "context": alert.context,
        },
    }
    if alert.labels.get("app_id"):
        payload["component"] = alert.labels["app_id"]
    event["payload"] = payload
    if generator_url_base:
        event["client"] = "appwatch"
        event["client_url"] = f"{generator_url_base.rstrip('/')}/alerts/{alert.alert_id}"
    news = links(alert)
    if news:
        event["links"] = news
    return event


# -- response classification --------------------------------------------------


def error_message(resp: httpx.Response) -> str:
    """PagerDuty's ``message`` and ``errors`` from the JSON body, else the raw text."""
    text = resp.text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if not isinstance(data, dict):
        return text
    parts = [str(data["message"])] if data.get("message") else []
    errors = data.get("errors")
    if isinstance(errors, list) and errors:
        parts.append("; ".join(str(e) for e in errors))
    return ": ".join(parts) or text


class PagerDutyNotifier(OneByOne):
    kind = "pagerduty"

    def __init__(
        self,
        name: str,
        routing_key: str,
        *,
        url: str = EVENTS_URL,
        source: str = "appwatch",
        generator_url_base: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_hosts: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.url = url
        self.source = source
        self.generator_url_base = generator_url_base
        self._routing_key = routing_key
        self._clock = clock
        self._client = guarded_client(url, allow_hosts=allow_hosts, timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"PagerDutyNotifier(name={self.name!r}, url={self.url!r})"

    def _redact(self, text: str) -> str:
        return text.replace(self._routing_key, REDACTED) if self._routing_key else text

    def request(self, alert: Alert) -> bytes:
        return orjson.dumps(
            to_event(alert, self._routing_key, source=self.source, generator_url_base=self.generator_url_base)
        )

    def classify(self, resp: httpx.Response) -> Result:
        """The error for PagerDuty's answer (None: accepted), redacted."""
        if resp.is_success:  # 202 Accepted
            return None
        return PagerDutyHTTPError.from_response(resp, self._clock(), message=self._redact(error_message(resp)))

    async def _send(self, alert: Alert) -> Result:
        """One event for one alert."""
        try:
            body = self.request(alert)
        except ValueError as exc:  # an unparsable timestamp: no retry will fix it
            return PagerDutyError(self._redact(describe(exc)))
        try:
            resp = await self._client.post(self.url, content=body, headers={"content-type": "application/json"})
        except BlockedAddress as exc:  # the SSRF guard refused the address: final
            return BlockedAddress(self._redact(str(exc)))
        except httpx.TransportError as exc:
            # not ``exc`` itself: it holds the request, whose body holds the routing key
            return PagerDutyTransportError(self._redact(describe(exc)), retryable_error(exc))
        return self.classify(resp)

    async def aclose(self) -> None:
        await self._client.aclose()
