"""Slack incoming-webhook delivery: one Block Kit message per group of alerts.

``blocks(alerts)`` is a pure payload builder (1 alert or a group, firing and/or
resolved) that keeps within Slack's Block Kit limits; ``RateLimiter`` spaces
posts per webhook URL (Slack allows about 1 message per second per webhook);
``SlackNotifier`` posts and classifies the answer.

Text put into ``mrkdwn`` objects and the fallback ``text`` is escaped with
Slack's rule (``&`` ``<`` ``>`` only), so a summary such as ``<!channel>``
cannot mention anyone; ``plain_text`` (the header) is not parsed and left as is.

Errors returned (never raised), ``core.retry.DeliveryError``s, see ``alerts.notify``:
    DeliveryError          connection refused, timeout ... (the httpx
                           error is its ``__cause__``)               -> retry
    SlackError             non-2xx response, with ``.status`` and ``.body``:
        429                rate_limited, ``.retry_after`` seconds   -> retry
        408, 425, 5xx      transient                                -> retry
        410                channel_is_archived: ``.permanent = True``    -> permanent
        other 4xx          invalid_payload, no_service, channel_not_found ...
                           (body text in the message)             -> permanent
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import httpx
import orjson

from alerts.notify import BaseNotifier, Result
from core.alert import Alert
from core.redact import RedactingFilter
from core.retry import DeliveryError, as_delivery_error, describe
from core.ssrf import guarded_client

# Block Kit limits (https://api.slack.com/reference/block-kit)
MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELDS = 10
MAX_FIELD = 2000
MAX_CONTEXT = 2000  # per context element; kept well under Slack's limit
MAX_FALLBACK = 3000  # notification text; Slack truncates ``text`` at 40k anyway

STATUS_EMOJI = {"firing": "🔥", "resolved": "✅"}
ELLIPSIS = "…"


# -- text helpers ------------------------------------------------------------


def escape(text: Any) -> str:
    """Slack's escaping for mrkdwn and ``text``: ``&`` ``<`` ``>`` and nothing else."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """Shorten plain text to ``limit`` characters, ending with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def cut_escaped(text: str, limit: int) -> str:
    """Shorten already-escaped text without splitting ``&amp;`` / ``&lt;`` / ``&gt;``."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    amp = head.rfind("&", max(0, len(head) - 4))
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    return head + ELLIPSIS


_URL = re.compile(r"^https?://\S+$", re.IGNORECASE)
_URL_QUOTE = {"|": "%7C", "<": "%3C", ">": "%3E", '"': "%22"}


def href(url: Any) -> str | None:
    """A URL safe inside ``<url|title>``, or None for anything but http(s).

    ``|`` ``<`` ``>`` are percent-encoded (they would end the URL part or the
    link); ``&`` becomes ``&amp;`` like everywhere else in Slack text.
    """
    if not isinstance(url, str) or not _URL.match(url.strip()):
        return None
    url = url.strip()
    for ch, enc in _URL_QUOTE.items():
        url = url.replace(ch, enc)
    return url.replace("&", "&amp;")


def link(url: Any, title: Any) -> str:
    """``<url|title>`` with both parts made safe; just the escaped title without a URL."""
    text = escape(" ".join(str(title or url or "untitled").split()))  # no newlines in a link
    target = href(url)
    return f"<{target}|{text}>" if target else text


def human(v: float | None) -> str:
    """Readable number: 812345 -> 812k, 2401234 -> 2.4M, 1.5e8 -> 150M."""
    if v is None or not math.isfinite(v):
        return "—"
    sign, a = ("-" if v < 0 else ""), abs(float(v))
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if a >= scale * 0.9995:
            x = a / scale
            digits = 2 if x < 10 else 1 if x < 100 else 0
            text = f"{x:.{digits}f}"
            if "." in text:
                text = text.rstrip("0").rstrip(".")
            return sign + text + unit
    if a == int(a):
        return f"{sign}{int(a)}"
    return sign + (f"{a:.2f}" if a < 10 else f"{a:.1f}").rstrip("0").rstrip(".")


def ratio(value: float | None, baseline: float | None) -> str | None:
    """``3.0×`` for value/baseline, None when it is undefined."""
    if value is None or baseline is None or not baseline > 0 or not math.isfinite(value):
        return None
    r = value / baseline
    return f"{r:.1f}×" if r < 100 else f"{r:,.0f}×"


def _when(ts: str | None) -> str:
    """``2024-11-14 00:00 +08:00`` from an ISO timestamp (the input if unparseable)."""
    if not ts:
        return ""
    try:
        d = datetime.fromisoformat(ts)
    except ValueError:
        return ts
    off = d.strftime("%z")
    off = f" {off[:3]}:{off[3:]}" if off else ""
    return f"{d:%Y-%m-%d %H:%M}{off}"


# -- payload -----------------------------------------------------------------


def headline(alerts: Sequence[Alert]) -> str:
    """``🔥 2 firing: download-spike`` / ``✅ resolved: x`` / ``🔥 1 firing · ✅ 2 resolved: a, b``."""
    counts: dict[str, int] = {}
    for a in alerts:
        counts[a.status] = counts.get(a.status, 0) + 1
    parts = []
    for status, n in counts.items():
        emoji = STATUS_EMOJI.get(status, "•")
        parts.append(f"{emoji} {status}" if len(alerts) == 1 else f"{emoji} {n} {status}")
    rules = list(dict.fromkeys(a.rule for a in alerts))
    return cut(f"{' · '.join(parts)}: {', '.join(rules)}", MAX_HEADER)


def _values(a: Alert) -> list[tuple[str, str]]:
    """(label, text) pairs for the section fields, only those present."""
    out = []
    app = a.labels.get("app_id") or a.labels.get("app")
    if app:
        out.append(("App", escape(app)))
    if a.kind == "rank":
        if a.value is not None:
            out.append(("Rank", f"#{a.value:.0f}"))
        if a.baseline is not None:
            out.append(("Previous", f"#{a.baseline:.0f}"))
        return out
    if a.kind == "deadman":
        if a.value is not None:
            out.append(("Silent for", f"{a.value:.1f} h"))
        return out
    if a.value is not None:
        out.append(("Value", human(a.value)))
    if a.baseline is not None:
        out.append(("Baseline", human(a.baseline)))
    r = ratio(a.value, a.baseline)
    if r:
        out.append(("Ratio", r))
    return out


def _section(a: Alert) -> dict:
    emoji = STATUS_EMOJI.get(a.status, "•")
    head = f"{emoji} *{escape(cut(a.rule, 200))}* · {escape(cut(a.severity, 50))}"
    if a.status != "firing":
        head += f" · {escape(cut(a.status, 50))}"
    room = MAX_SECTION - len(head) - 1
    text = f"{head}\n{cut_escaped(escape(a.summary), room)}"
    news = [
        f"📰 {link(i.get('url'), cut(str(i.get('title') or ''), 300))}" for i in a.context or [] if isinstance(i, dict)
    ]
    for n, line in enumerate(news):
        after = len(news) - n - 1  # keep room to say how many did not fit
        reserve = len(f"\n{ELLIPSIS}and {after} more news") if after else 0
        if len(text) + 1 + len(line) + reserve <= MAX_SECTION:
            text += "\n" + line
            continue
        more = f"\n{ELLIPSIS}and {len(news) - n} more news"
        if len(text) + len(more) <= MAX_SECTION:
            text += more
        break
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    fields = [{"type": "mrkdwn", "text": cut_escaped(f"*{label}*\n{value}", MAX_FIELD)} for label, value in _values(a)][
        :MAX_FIELDS
    ]
    if fields:
        block["fields"] = fields
    return block


def _context(a: Alert) -> dict:
    when = _when(a.window_start or a.event_ts)
    meta = f"🕒 {escape(when)} · id {escape(a.alert_id[:12])}"
    if a.late:
        meta += " · ⏳ late"
    elements = [{"type": "mrkdwn", "text": cut_escaped(meta, MAX_CONTEXT)}]
    if a.labels:
        labels = " · ".join(f"{escape(k)}={escape(v)}" for k, v in a.labels.items())
        elements.append({"type": "mrkdwn", "text": cut_escaped(labels, MAX_CONTEXT)})
    return {"type": "context", "elements": elements}


def _rest(alerts: Sequence[Alert]) -> dict:
    """The closing ``…and N more`` section, with a count per rule."""
    by_rule: dict[str, int] = {}
    for a in alerts:
        by_rule[a.rule] = by_rule.get(a.rule, 0) + 1
    detail = ", ".join(f"{escape(r)} ×{n}" for r, n in by_rule.items())
    text = cut_escaped(f"{ELLIPSIS}and {len(alerts)} more: {detail}", MAX_SECTION)
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _fallback(alerts: Sequence[Alert], header: str) -> str:
    shown = [escape(" ".join(a.summary.split())) for a in alerts[:5]]
    text = f"{escape(header)}\n" + "\n".join(shown)
    if len(alerts) > len(shown):
        text += f"\n{ELLIPSIS}and {len(alerts) - len(shown)} more"
    return cut_escaped(text, MAX_FALLBACK)


def blocks(alerts: Sequence[Alert], *, title: str | None = None) -> dict:
    """The Slack message (``text`` + ``blocks``) for one group of alerts.

    Per alert: a section (status, rule, severity, summary and related news as
    links, with fields app / value / baseline / ratio) and a context block
    (time, id, labels). Past 50 blocks the message ends with ``…and N more``.
    """
    alerts = list(alerts)
    if not alerts:
        raise ValueError("blocks() needs at least one alert")
    header = cut(" ".join(title.split()), MAX_HEADER) if title and title.strip() else headline(alerts)
    out: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}}]
    per_alert = 2
    if 1 + per_alert * len(alerts) <= MAX_BLOCKS:
        shown = len(alerts)
    else:
        shown = (MAX_BLOCKS - 2) // per_alert  # room for the header and the tail
    for a in alerts[:shown]:
        out += [_section(a), _context(a)]
    if shown < len(alerts):
        out.append(_rest(alerts[shown:]))
    return {"text": _fallback(alerts, header), "blocks": out, "unfurl_links": False, "unfurl_media": False}


def body(alerts: Sequence[Alert], *, title: str | None = None) -> bytes:
    """The POST body: UTF-8 JSON, non-ASCII (豆包) as is, not ``\\u`` escaped."""
    return orjson.dumps(blocks(alerts, title=title))


# -- rate limit --------------------------------------------------------------


class RateLimiter:
    """At most one message per ``interval`` seconds per key (the webhook URL).

    ``acquire`` reserves the next free slot before it sleeps, so concurrent
    callers queue up: three at once wait 0, 1 and 2 s. ``hold`` pushes a key's
    next slot out (a 429's ``Retry-After``), capped at ``max_hold``.
    """

    def __init__(
        self,
        interval: float = 1.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        max_hold: float = 60.0,
    ) -> None:
        self.interval = interval
        self.max_hold = max_hold
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}

    async def acquire(self, key: str) -> float:
        """Wait for ``key``'s next slot; return how long that was."""
        now = self._clock()
        slot = max(now, self._next.get(key, now))
        self._next[key] = slot + self.interval
        if len(self._next) > 1000:
            self._next = {k: t for k, t in self._next.items() if t > now}
        wait = slot - now
        if wait > 0:
            await self._sleep(wait)
        return wait

    def hold(self, key: str, seconds: float) -> None:
        """No slot for ``key`` before ``seconds`` from now."""
        until = self._clock() + min(max(seconds, 0.0), self.max_hold)
        self._next[key] = max(self._next.get(key, until), until)


# -- notifier ----------------------------------------------------------------


class SlackError(DeliveryError):
    """A non-2xx answer from the webhook. The URL (a secret) is never in the message.
    ``permanent``: 410, or ``channel_is_archived`` whatever the status."""

    def __init__(
        self, status: int, body: str, *, retry_after: float | None = None, permanent: bool | None = None
    ) -> None:
        msg = f"Slack HTTP {status}: {body.strip()[:200]}"
        if retry_after is not None:
            msg += f" (retry after {retry_after:g}s)"
        if permanent is None:
            permanent = status == 410 or body.strip() == "channel_is_archived"
        super().__init__(msg, status=status, retry_after=retry_after, permanent=permanent)
        self.body = body


def classify(resp: httpx.Response, now: float) -> Result:
    """The error for a webhook response (None: delivered); ``now`` reads an HTTP-date Retry-After."""
    if resp.is_success:
        return None
    return SlackError.from_response(resp, now, body=resp.text)


class SlackNotifier(BaseNotifier):
    """Post alerts to one Slack incoming webhook: one message per notification.

    ``limiter`` should be shared by every notifier posting to the same URL (one
    is made per notifier otherwise, on ``clock`` and ``sleep``). ``now`` is the
    wall clock, used only to read an HTTP-date ``Retry-After``.
    """

    kind = "slack"

    def __init__(
        self,
        url: str,
        *,
        name: str = "slack",
        limiter: RateLimiter | None = None,
        title: str | None = None,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_hosts: Sequence[str] = (),
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.url = url
        self.title = title
        self.limiter = limiter or RateLimiter(clock=clock, sleep=sleep)
        self._now = now
        self._redact = RedactingFilter([url]).redact  # an answer may echo the request path
        self._client = guarded_client(url, allow_hosts=allow_hosts, timeout=timeout, transport=transport)

    def __repr__(self) -> str:  # never show the URL: it is the credential
        return f"SlackNotifier(name={self.name!r})"

    async def notify(self, alerts: Sequence[Alert]) -> Result:
        """One message for the whole group (nothing for an empty one)."""
        if not alerts:
            return None
        try:
            content = body(alerts, title=self.title)
        except (TypeError, ValueError) as exc:  # odd context values: no better next time
            return as_delivery_error(exc, retryable=False)
        await self.limiter.acquire(self.url)
        try:
            resp = await self._client.post(
                self.url, content=content, headers={"content-type": "application/json; charset=utf-8"}
            )
        except httpx.TransportError as exc:  # BlockedAddress (final) included: it is a DeliveryError
            return as_delivery_error(exc, message=self._redact(describe(exc)))
        err = classify(resp, self._now())
        if isinstance(err, SlackError):
            err = SlackError(err.status, self._redact(err.body), retry_after=err.retry_after, permanent=err.permanent)
            if err.retry_after is not None:
                self.limiter.hold(self.url, err.retry_after)
        return err

    async def aclose(self) -> None:
        await self._client.aclose()
