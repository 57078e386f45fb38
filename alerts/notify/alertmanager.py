"""Push alerts to a Prometheus Alertmanager (``POST /api/v2/alerts``).

Each alert becomes one v2 ``PostableAlert``:
    labels       alertname=<rule>, severity, every alert label, alert_id
                 (label names sanitised to ``[a-zA-Z_][a-zA-Z0-9_]*``, empty
                 values dropped: Alertmanager treats an empty label as absent)
    annotations  summary; description = value/baseline and the related news
                 (title + url, a few lines)
    startsAt     window_start, else event_ts (RFC 3339, UTC)
    endsAt       resolved: window_end (clamped to now), else now
                 firing:   now + ``firing_ttl`` (see below), or omitted
    generatorURL ``{generator_url_base}/alerts/{alert_id}`` when a base is set

Why a firing alert carries an explicit ``endsAt``: Alertmanager expects a client to
re-push active alerts, and resolves an alert it has not heard about once ``endsAt``
passes (a missing ``endsAt`` means "now + resolve_timeout", 5 min by default). So, as
Prometheus does, the pipeline re-pushes every firing state alert (threshold, deadman)
every ``resend_interval`` (default 1 min, ``alerts.pipeline`` ``refresh``), whatever the
other receivers' ``repeat_interval``, and ``endsAt`` is ``firing_ttl`` = 4 resend
intervals ahead: a missed push or two does not resolve it. A one-off (a spike) is pushed
once and ends ``firing_ttl`` later; a "resolved" alert with the same ``alert_id`` (the
same labels, so the same fingerprint) ends a state alert at once.

A notification (a group of alerts) is one POST of the list.

Errors returned (never raised), ``core.retry.DeliveryError``s, see ``alerts.notify``:
    DeliveryError          an alert has an unparsable timestamp (the
                           ValueError is its ``__cause__``)             -> permanent
                           connection refused, timeout ... (the httpx
                           error is its ``__cause__``)                  -> retry
    AlertmanagerError      non-2xx response; retry on 408/425/429/5xx
                           (``retry_after`` from Retry-After), permanent
                           otherwise (400: invalid alert, with
                           Alertmanager's validation message; 422: schema)
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from alerts.notify import BaseNotifier, Result
from core.alert import Alert
from core.retry import DeliveryError, as_delivery_error
from core.ssrf import guarded_client

RESEND_INTERVAL = 60.0  # seconds between re-pushes of a firing alert (Prometheus' resend delay)
FIRING_TTL = 4 * RESEND_INTERVAL  # seconds a firing alert stays active in Alertmanager without a push
NEWS_LINES = 5
TITLE_CHARS = 160
_BAD_LABEL_CHARS = re.compile(r"[^a-zA-Z0-9_]")


class AlertmanagerError(DeliveryError):
    """A non-2xx answer from Alertmanager; ``message`` is its own error text."""

    def __init__(self, status: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {message[:500]}", status=status, retry_after=retry_after)
        self.message = message


# -- payload ------------------------------------------------------------------


def parse_ts(value: str) -> datetime:
    """ISO 8601 -> aware UTC datetime (a naive timestamp is taken as UTC)."""
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def rfc3339(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def label_name(name: str) -> str:
    """A valid Prometheus label name: invalid characters -> ``_``, no leading digit."""
    out = _BAD_LABEL_CHARS.sub("_", name) or "_"
    return f"_{out}" if out[0].isdigit() else out


def fmt_number(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{v:,.0f}"
    return f"{v:,.4g}" if abs(v) >= 1e-3 else f"{v:.4g}"


def description(alert: Alert) -> str:
    """Value/baseline line, then up to ``NEWS_LINES`` related news (title <url>)."""
    lines = []
    parts = []
    if alert.value is not None:
        parts.append(f"value {fmt_number(alert.value)}")
    if alert.baseline is not None:
        parts.append(f"baseline {fmt_number(alert.baseline)}")
        if alert.value is not None and alert.baseline:
            parts.append(f"({alert.value / alert.baseline:.2f}x)")
    if parts:
        lines.append(" ".join(parts))
    news = news_lines(alert.context)
    if news:
        lines.append("Related news:")
        lines.extend(news)
    return "\n".join(lines)


def news_lines(context: list[dict[str, Any]], limit: int = NEWS_LINES) -> list[str]:
    out = []
    for item in context[:limit]:
        title = str(item.get("title") or item.get("url") or "untitled").strip()
        if len(title) > TITLE_CHARS:
            title = title[: TITLE_CHARS - 1] + "…"
        url = item.get("url")
        out.append(f"- {title} <{url}>" if url else f"- {title}")
    if len(context) > limit:
        out.append(f"- (+{len(context) - limit} more)")
    return out


def to_postable(
    alert: Alert,
    generator_url_base: str | None = None,
    *,
    now: float | None = None,
    firing_ttl: float | None = FIRING_TTL,
) -> dict[str, Any]:
    """The Alertmanager v2 ``PostableAlert`` for ``alert`` (``now``: unix time, default the wall clock)."""
    now_dt = datetime.fromtimestamp(time.time() if now is None else now, UTC)
    labels = {label_name(k): v for k, v in alert.labels.items() if v != ""}
    labels.update(alertname=alert.rule, severity=alert.severity, alert_id=alert.alert_id)
    annotations = {"summary": alert.summary}
    desc = description(alert)
    if desc:
        annotations["description"] = desc

    starts = parse_ts(alert.window_start or alert.event_ts)
    body: dict[str, Any] = {"labels": labels, "annotations": annotations, "startsAt": rfc3339(starts)}
    if alert.status == "resolved":
        ends = min(parse_ts(alert.window_end), now_dt) if alert.window_end else now_dt
        body["endsAt"] = rfc3339(max(ends, starts))
    elif firing_ttl is not None:
        ends = datetime.fromtimestamp(now_dt.timestamp() + firing_ttl, UTC)
        body["endsAt"] = rfc3339(max(ends, starts))
    if generator_url_base:
        body["generatorURL"] = f"{generator_url_base.rstrip('/')}/alerts/{alert.alert_id}"
    return body


# -- response classification --------------------------------------------------


def error_message(resp: httpx.Response) -> str:
    """Alertmanager's error text: a JSON string (400), ``{"message": ...}`` (422) or raw text."""
    text = resp.text.strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, str):
        return data
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return data["message"]
    return text


def classify(resp: httpx.Response, now: float = 0.0) -> Result:
    """The error for Alertmanager's answer (None: accepted); ``now`` reads an HTTP-date Retry-After."""
    if resp.is_success:
        return None
    return AlertmanagerError.from_response(resp, now, message=error_message(resp))


class AlertmanagerNotifier(BaseNotifier):
    kind = "alertmanager"

    def __init__(
        self,
        name: str,
        url: str,
        *,
        generator_url_base: str | None = None,
        resend_interval: float = RESEND_INTERVAL,
        headers: dict[str, str] | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_hosts: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.url = url.rstrip("/")
        self.endpoint = f"{self.url}/api/v2/alerts"
        self.generator_url_base = generator_url_base
        self.resend_interval: float | None = resend_interval  # the pipeline re-pushes firing alerts this often
        self.firing_ttl = 4 * resend_interval
        self._headers = headers or {}
        self._clock = clock
        self._client = guarded_client(url, allow_hosts=allow_hosts, timeout=timeout, transport=transport)

    def request(self, alerts: Sequence[Alert]) -> tuple[bytes, dict[str, str]]:
        now = self._clock()
        postable = [to_postable(a, self.generator_url_base, now=now, firing_ttl=self.firing_ttl) for a in alerts]
        return orjson.dumps(postable), {**self._headers, "content-type": "application/json"}

    async def notify(self, alerts: Sequence[Alert]) -> Result:
        """One POST with every alert of the notification (nothing for an empty one)."""
        if not alerts:
            return None
        try:
            body, headers = self.request(alerts)
        except ValueError as exc:  # an unparsable timestamp: no retry will fix it
            return as_delivery_error(exc, retryable=False)
        try:
            resp = await self._client.post(self.endpoint, content=body, headers=headers)
        except httpx.TransportError as exc:  # BlockedAddress (final) included: it is a DeliveryError
            return as_delivery_error(exc)
        return classify(resp, self._clock())

    async def aclose(self) -> None:
        await self._client.aclose()
