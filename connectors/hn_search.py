"""Source ``hn_search``: Hacker News stories matching queries (Algolia HN API) -> ``news``.

GET {base_url}/api/v1/search_by_date?query=Q&tags=story&numericFilters=created_at_i>LAST
&hitsPerPage=N&page=P returns ``{"hits": [{"objectID", "title", "url", "author",
"created_at", "created_at_i", "story_text", ...}], "page", "nbPages", ...}``, newest first.

- Pages are followed while ``page + 1 < nbPages``, up to ``max_pages`` per query; when
  the cap cuts a query short, the older stories beyond it are skipped (logged).
- ``ctx.state["newest"][query]`` is the newest ``created_at_i`` seen; the next poll
  asks only for newer stories. A query whose pages did not all arrive keeps its old
  checkpoint (refetched stories are dropped by the runner as repeats). The first poll
  looks back ``lookback_hours``.
- ``event_id`` comes from ``objectID``: a story found by two queries is one event.
- A hit without ``url`` (Ask HN, text posts) links to its HN item page.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import Field

from connectors.base import Connector, Context, Params
from connectors.errors import PayloadError, SourceError
from connectors.text import clip, detect_lang, html_to_text, squash
from core.events import Event, InvalidEvent

log = logging.getLogger(__name__)

ITEM_URL = "https://news.ycombinator.com/item?id={}"
SUMMARY_CHARS = 1000


class HnSearchParams(Params):
    base_url: str = Field("https://hn.algolia.com", pattern=r"^https?://")
    queries: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    hits_per_page: int = Field(50, ge=1, le=1000)
    max_pages: int = Field(5, ge=1, le=50, description="per query and poll")
    lookback_hours: float = Field(168, gt=0, description="how far back the first poll looks")


class HnSearch(Connector):
    kind = "hn_search"
    Params = HnSearchParams
    params: HnSearchParams

    async def poll(self, ctx: Context) -> list[Event]:
        newest: dict[str, int] = ctx.state.setdefault("newest", {})
        start = int(ctx.now.timestamp() - self.params.lookback_hours * 3600)
        out: list[Event] = []
        for query in self.params.queries:
            last = newest.get(query, start)
            found: list[Event] = []
            try:
                top = await self.search(ctx, query, last, found)
            except SourceError as exc:  # keep what earlier pages gave; the checkpoint stays
                ctx.failed(exc)
            else:
                newest[query] = max(last, top)
            out += found
        return out

    async def search(self, ctx: Context, query: str, last: int, out: list[Event]) -> int:
        """Append the events of every page of ``query`` newer than ``last``; the newest time."""
        p = self.params
        url = f"{p.base_url.rstrip('/')}/api/v1/search_by_date"
        top, page = last, 0
        while True:
            args = {
                "query": query,
                "tags": "story",
                "numericFilters": f"created_at_i>{last}",
                "hitsPerPage": p.hits_per_page,
                "page": page,
            }
            data = await ctx.get_json(url, args)
            if data is None:  # 304: nothing new
                return top
            full = ctx.http.url(url, args)
            hits, pages = _page(full, data)
            for pos, hit in enumerate(hits):
                where = f"{full}: hits[{pos}]"
                try:
                    ev, created = self.hit(hit)
                except PayloadError as exc:
                    ctx.failed(PayloadError(f"{where}: {exc}", exc.reason))
                    continue
                except InvalidEvent as exc:
                    ctx.failed(exc, where)
                    continue
                out.append(ev)
                top = max(top, created)
            page += 1
            if page >= pages:
                return top
            if page >= p.max_pages:
                log.warning(
                    "connector %s: query %r has %d pages, read %d; older stories are skipped",
                    ctx.name,
                    query,
                    pages,
                    page,
                )
                return top

    def hit(self, hit: Any) -> tuple[Event, int]:
        if not isinstance(hit, dict) or not str(hit.get("objectID") or "").isdigit():
            raise PayloadError('no numeric "objectID"', "bad_item")
        oid = str(hit["objectID"])
        created = hit.get("created_at_i")
        if not isinstance(created, int) or isinstance(created, bool) or created <= 0:
            raise PayloadError(f'story {oid}: no "created_at_i"', "bad_item")
        title = clip(squash(hit.get("title")), 1000)
        if not title:
            raise PayloadError(f"story {oid}: no title", "bad_item")
        link = squash(hit.get("url")) or ITEM_URL.format(oid)
        summary = clip(html_to_text(hit.get("story_text")), SUMMARY_CHARS)
        ev = self.event(
            event_id=self.event_id(oid),
            type="news",
            ts=datetime.fromtimestamp(created, UTC).isoformat(),
            url=link,
            title=title,
            summary=summary or None,
            lang=detect_lang(f"{title} {summary}"),
        )
        return ev, created


def _page(url: str, data: Any) -> tuple[list, int]:
    hits = data.get("hits") if isinstance(data, dict) else None
    pages = data.get("nbPages", 1) if isinstance(data, dict) else None
    if not isinstance(hits, list) or not isinstance(pages, int):
        raise PayloadError(f'{url}: expected {{"hits": [...], "nbPages": N}}', "bad_payload", url)
    return hits, pages
