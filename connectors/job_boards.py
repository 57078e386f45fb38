"""Sources ``greenhouse`` and ``lever``: open AI postings on a company's job board -> ``job_postings``.

- Greenhouse: GET {base_url}/v1/boards/{board}/jobs?content=true returns
  ``{"jobs": [{"id", "title", "updated_at", "location": {"name"}, "absolute_url",
  "departments": [{"name"}], "content"}], "meta": {"total"}}`` (departments only come
  with ``content=true``);
- Lever: GET {base_url}/v0/postings/{company}?mode=json returns
  ``[{"id", "text", "categories": {"team", "department", "location", "commitment"},
  "hostedUrl", "createdAt" (ms), "descriptionPlain"}]``.

Each poll emits one ``app.metric`` ``job_postings`` for the board's ``app_id``: the number
of open postings whose title or team/department matches a keyword, for the poll day
(UTC; ``period=day, mode=total``). The id is (board, day, count): the same count re-polled
the same day is one event, a changed count is a new one. On a 304 the last count
(``ctx.state``) is re-emitted for the poll day.

Keywords match case-insensitively. Latin ones (``AI``, ``GPU``) match whole words (a
trailing "s" allowed), so "AI" does not match "Retail"; others (``大模型``) match anywhere.

``postings_as_news: true`` also emits a ``news`` event (kind ``hire``) for each matching
posting not seen before (ids kept in ``ctx.state``), once; postings older than
``news_max_age_days`` are remembered but not announced (no flood on the first poll).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field

from connectors.base import Connector, Context, Params
from connectors.catalog import AppId
from connectors.errors import PayloadError, SourceError
from core.events import Event, InvalidEvent

KEYWORDS = ["AI", "AIGC", "LLM", "大模型", "算法", "人工智能", "machine learning", "GPU"]

Region = Annotated[str, Field(pattern=r"^[a-z]{2}$")]  # ISO alpha-2 (lower case) or "ww"


class JobBoardParams(Params):
    app_id: AppId = Field(description="the app the board stands for, e.g. doubao for bytedance")
    company_name: str | None = Field(None, description="for news titles; default: the catalog's company")
    keywords: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] = KEYWORDS
    platform: Literal["ios", "android", "all"] = "all"
    country: Region = "ww"
    postings_as_news: bool = False
    news_max_age_days: int = Field(14, ge=1)


class GreenhouseParams(JobBoardParams):
    base_url: str = Field("https://boards-api.greenhouse.io", pattern=r"^https?://")
    board: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]+$")]


class LeverParams(JobBoardParams):
    base_url: str = Field("https://api.lever.co", pattern=r"^https?://")
    company: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]


@dataclass
class Posting:
    id: str
    title: str
    teams: list[str]  # department / team names
    url: str | None
    location: str | None
    when: datetime | None  # updated (Greenhouse) or created (Lever)


class JobBoard(Connector):
    """Shared by both boards: subclasses give ``board``, ``request`` and ``postings``."""

    params: JobBoardParams

    def __init__(self, params, catalog) -> None:
        super().__init__(params, catalog)
        self.matchers = [_matcher(k) for k in params.keywords]

    @property
    def board(self) -> str:
        raise NotImplementedError

    def request(self) -> tuple[str, dict]:
        raise NotImplementedError

    def postings(self, url: str, data: Any, ctx: Context) -> list[Posting]:
        raise NotImplementedError

    def matches(self, p: Posting) -> bool:
        text = " ".join([p.title, *p.teams])
        return any(m(text) for m in self.matchers)

    def company(self) -> str:
        app = self.catalog.get(self.params.app_id)
        return self.params.company_name or (app.company if app else self.board)

    async def poll(self, ctx: Context) -> list[Event]:
        url, query = self.request()
        full = ctx.http.url(url, query)
        try:
            data = await ctx.get_json(url, query)
            if data is None:  # not modified: the open postings are what they were
                count = ctx.state.get("count")
                return [] if count is None else [self.count_event(ctx, count)]
            matching = [p for p in self.postings(full, data, ctx) if self.matches(p)]
        except SourceError as exc:
            ctx.failed(exc)
            return []
        out = [self.count_event(ctx, len(matching))]
        ctx.state["count"] = len(matching)
        if self.params.postings_as_news:
            out += self.news(ctx, matching)
        return out

    def count_event(self, ctx: Context, count: int) -> Event:
        day = ctx.now.date().isoformat()
        p = self.params
        return self.event(
            event_id=self.event_id(self.board, day, count),
            type="app.metric",
            ts=ctx.now.isoformat(),
            app_id=p.app_id,
            platform=p.platform,
            country=p.country,
            metric="job_postings",
            value=count,
            period="day",
            mode="total",
        )

    def news(self, ctx: Context, matching: list[Posting]) -> list[Event]:
        known = set(ctx.state.get("posted", []))
        oldest = ctx.now - timedelta(days=self.params.news_max_age_days)
        company, out = self.company(), []
        for p in matching:
            if p.id in known or not p.url or (p.when and p.when < oldest):
                continue
            summary = " · ".join(x for x in (*p.teams, p.location) if x) or None
            try:
                out.append(
                    self.event(
                        event_id=self.event_id(self.board, "posting", p.id),
                        type="news",
                        ts=(p.when or ctx.now).isoformat(),
                        url=p.url,
                        title=f"{company} is hiring: {p.title}",
                        summary=summary,
                        lang="zh" if _CJK.search(p.title) else "en",
                        companies=[company],
                        kind="hire",
                    )
                )
            except InvalidEvent as exc:
                ctx.failed(exc, f"posting {p.id}")
        # only the open ones are kept, so the list stays the size of the board
        ctx.state["posted"] = sorted({p.id for p in matching})
        return out


class Greenhouse(JobBoard):
    kind = "greenhouse"
    Params = GreenhouseParams
    params: GreenhouseParams

    @property
    def board(self) -> str:
        return self.params.board

    def request(self) -> tuple[str, dict]:
        return f"{self.params.base_url.rstrip('/')}/v1/boards/{self.board}/jobs", {"content": "true"}

    def postings(self, url: str, data: Any, ctx: Context) -> list[Posting]:
        jobs = data.get("jobs") if isinstance(data, dict) else None
        if not isinstance(jobs, list):
            raise PayloadError(f'{url}: expected {{"jobs": [...]}}', "bad_payload", url)
        out = []
        for pos, job in enumerate(jobs):
            if not isinstance(job, dict) or job.get("id") is None or not _text(job.get("title")):
                ctx.failed(PayloadError(f'{url}: jobs[{pos}]: no "id" or "title"', "bad_item"))
                continue
            depts = job.get("departments") if isinstance(job.get("departments"), list) else []
            loc = job.get("location") if isinstance(job.get("location"), dict) else {}
            out.append(
                Posting(
                    str(job["id"]),
                    job["title"].strip(),
                    [d["name"] for d in depts if isinstance(d, dict) and _text(d.get("name"))],
                    _text(job.get("absolute_url")),
                    _text(loc.get("name")),
                    _iso(job.get("updated_at")),
                )
            )
        return out


class Lever(JobBoard):
    kind = "lever"
    Params = LeverParams
    params: LeverParams

    @property
    def board(self) -> str:
        return self.params.company

    def request(self) -> tuple[str, dict]:
        return f"{self.params.base_url.rstrip('/')}/v0/postings/{self.board}", {"mode": "json"}

    def postings(self, url: str, data: Any, ctx: Context) -> list[Posting]:
        if not isinstance(data, list):
            raise PayloadError(f"{url}: expected a JSON array of postings", "bad_payload", url)
        out = []
        for pos, job in enumerate(data):
            if not isinstance(job, dict) or not _text(job.get("id")) or not _text(job.get("text")):
                ctx.failed(PayloadError(f'{url}: [{pos}]: no "id" or "text"', "bad_item"))
                continue
            cats = job.get("categories") if isinstance(job.get("categories"), dict) else {}
            created = job.get("createdAt")
            when = (
                datetime.fromtimestamp(created / 1000, UTC)
                if isinstance(created, (int, float)) and not isinstance(created, bool)
                else None
            )
            out.append(
                Posting(
                    job["id"],
                    job["text"].strip(),
                    [cats[k] for k in ("team", "department") if _text(cats.get(k))],
                    _text(job.get("hostedUrl")),
                    _text(cats.get("location")),
                    when,
                )
            )
        return out


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _matcher(keyword: str):
    """Case-insensitive; whole words for Latin keywords (plural "s" allowed), substring otherwise."""
    k = keyword.strip()
    if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 .+#-]*", k):
        rx = re.compile(r"(?<![a-z0-9])" + re.escape(k) + r"s?(?![a-z0-9])", re.IGNORECASE)
        return lambda text: rx.search(text) is not None
    folded = k.casefold()
    return lambda text: folded in text.casefold()


def _text(v: Any) -> str | None:
    return v.strip() if isinstance(v, str) and v.strip() else None


def _iso(v: Any) -> datetime | None:
    if not isinstance(v, str):
        return None
    try:
        when = datetime.fromisoformat(v.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
