"""Source ``news_feed``: RSS 2.0 / Atom feeds of news outlets -> ``news``.

Each feed is fetched conditionally (an unchanged feed emits nothing) and parsed
with feedparser. Each entry becomes one ``news`` event:
- ``title``/``summary``: HTML stripped, entities unescaped, whitespace collapsed
  (summary from the entry's summary, else its content; clipped to 1000 chars);
- ``url``: the entry's link (relative links resolved against the feed URL);
- ``event_id``: from the guid (``id``), else the link. A guid that is not a URI
  (``3012345``) is qualified by the feed URL, so two feeds cannot collide;
- ``ts``: the entry's published, else updated, time. An entry without any date
  gets the feed's updated time, else the poll time; an entry whose date cannot
  be parsed is skipped as a counted error (as is one without a link or title);
- ``lang``: the feed's configured ``lang``, else ``zh``/``en`` from the text
  (``connectors.text.detect_lang``), else the feed's declared language.

A body that is not RSS/Atom (an HTML error page, garbage) is a counted error for
that feed; the other feeds are still polled. A feed that is malformed XML but
still recognisable (say, an undeclared ``&nbsp;``) is counted as ``bad_xml`` and
the entries feedparser recovered are kept. companies/people/kind are left to the
stream's enrichment.
"""

from __future__ import annotations

import calendar
import io
import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any

import feedparser
from pydantic import BeforeValidator, Field

from connectors.base import Connector, Context, Params
from connectors.errors import PayloadError, SourceError
from connectors.http import Response
from connectors.text import clip, detect_lang, html_to_text, squash
from core.events import Event, InvalidEvent

ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
TITLE_CHARS, SUMMARY_CHARS = 1000, 1000
# bozo reasons that do not make a feed malformed (served as text/html, charset mismatch)
_BENIGN = (feedparser.NonXMLContentType, feedparser.CharacterEncodingOverride)
_HTML_TYPES = ("text/html", "application/xhtml+xml")


class Feed(Params):
    url: str = Field(pattern=r"^https?://")
    name: str | None = Field(None, description="shown in errors; the url when unset")
    lang: str | None = Field(
        None, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$", description="every entry's lang (no detection)"
    )


def _url_only(v: Any) -> Any:
    return {"url": v} if isinstance(v, str) else v


class NewsFeedParams(Params):
    feeds: Annotated[list[Annotated[Feed, BeforeValidator(_url_only)]], Field(min_length=1)]


class NewsFeed(Connector):
    kind = "news_feed"
    Params = NewsFeedParams
    params: NewsFeedParams

    async def poll(self, ctx: Context) -> list[Event]:
        out: list[Event] = []
        for feed in self.params.feeds:
            try:
                resp = await ctx.get_bytes(feed.url, accept=ACCEPT)
                if resp is not None:  # None: not modified since the last poll
                    out += self.map(ctx, feed, resp)
            except SourceError as exc:
                ctx.failed(exc)
        return out

    def map(self, ctx: Context, feed: Feed, resp: Response) -> list[Event]:
        url, label = resp.url, feed.name or resp.url
        # a stream, never bytes: feedparser would try to open() a bytes body as a file name
        parsed = feedparser.parse(
            io.BytesIO(resp.data),
            response_headers={"content-type": resp.content_type or "application/xml", "content-location": url},
        )
        problem = parsed.get("bozo_exception") if parsed.get("bozo") else None
        if not parsed.get("version"):
            why = f"{problem}" if problem else "no <rss>, <feed> or <rdf:RDF> root"
            raise PayloadError(f"{label}: not an RSS/Atom feed ({why}) {_snippet(resp.data)}", "bad_feed", url)
        if problem and not isinstance(problem, _BENIGN):
            ctx.failed(PayloadError(f"{label}: malformed XML, parsed leniently: {problem}", "bad_xml", url))
        info = parsed.get("feed") or {}
        fallback_ts = _when(_raw(info, "updated_parsed")) or ctx.now
        declared = squash(_raw(info, "language")).lower()[:2] or None
        out = []
        for pos, entry in enumerate(parsed.get("entries") or []):
            where = f"{label}: entries[{pos}]"
            try:
                out.append(self.entry(feed, entry, fallback_ts, declared))
            except PayloadError as exc:
                ctx.failed(PayloadError(f"{where}: {exc}", exc.reason))
            except InvalidEvent as exc:
                ctx.failed(exc, where)
        return out

    def entry(self, feed: Feed, entry: dict, fallback_ts: datetime, declared: str | None) -> Event:
        link = squash(_raw(entry, "link"))
        if not re.match(r"^https?://", link):
            raise PayloadError(f"no http(s) link ({link!r})" if link else "no link", "bad_entry")
        title = clip(_text(_raw(entry, "title"), _raw(entry, "title_detail")), TITLE_CHARS)
        if not title:
            raise PayloadError(f"no title ({link})", "bad_entry")
        ts = fallback_ts
        for key in ("published", "updated"):
            if _raw(entry, key):
                ts = _when(_raw(entry, f"{key}_parsed"))
                if ts is None:
                    raise PayloadError(f"unparseable {key} date {_raw(entry, key)!r} ({link})", "bad_entry")
                break
        summary = _raw(entry, "summary"), _raw(entry, "summary_detail")
        if not summary[0] and _raw(entry, "content"):
            content = entry["content"][0]
            summary = content.get("value"), content
        summary_text = clip(_text(*summary), SUMMARY_CHARS)
        lang = feed.lang or detect_lang(f"{title} {summary_text}") or declared
        return self.event(
            event_id=self.event_id(*_identity(feed.url, squash(_raw(entry, "id")), link)),
            type="news",
            ts=ts.isoformat(),
            url=link,
            title=title,
            summary=summary_text or None,
            lang=lang,
        )


def _identity(feed_url: str, guid: str, link: str) -> tuple[str, ...]:
    if not guid:
        return ("link", link)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", guid):  # a URI (https:, urn:, tag:): global
        return ("guid", guid)
    return ("guid", feed_url, guid)


def _raw(d: Any, key: str) -> Any:
    """``d[key]`` without feedparser's deprecated key fallbacks (updated -> published)."""
    return dict.get(d, key) if isinstance(d, dict) else None


def _text(value: Any, detail: Any) -> str:
    kind = _raw(detail, "type") or "text/html"
    return html_to_text(value) if kind in _HTML_TYPES else squash(value)


def _when(parsed: time.struct_time | None) -> datetime | None:
    """feedparser's parsed dates are UTC struct_times."""
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _snippet(body: bytes, n: int = 80) -> str:
    text = body[: n * 4].decode("utf-8", "replace").strip().replace("\n", " ")[:n]
    return f"({text}...)" if text else "(empty body)"
