"""Source ``apple_charts``: App Store top charts from Apple's RSS JSON feed -> ``app.rank``.

GET {base_url}/{country}/apps/{chart}/{limit}/apps.json returns
``{"feed": {"title", "country", "updated", "results": [{"id", "name", "artistName", ...}]}}``;
rank = position in ``results`` + 1. One bad chart is counted and skipped; the others
are still published. The feed is fetched conditionally, so an unchanged chart emits nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from connectors.base import Connector, Context, Country, Params
from connectors.errors import PayloadError, SourceError
from core.events import Event, InvalidEvent


class AppleChartsParams(Params):
    base_url: str = Field(
        "https://rss.applemarketingtools.com/api/v2",
        pattern=r"^https?://",
        description="without the trailing /{country}/...",
    )
    countries: Annotated[list[Country], Field(min_length=1)] = ["cn", "us"]
    charts: Annotated[list[Literal["top-free", "top-paid"]], Field(min_length=1)] = ["top-free", "top-paid"]
    limit: int = Field(100, ge=1, le=200)


class AppleCharts(Connector):
    kind = "apple_charts"
    Params = AppleChartsParams
    params: AppleChartsParams

    def url(self, country: str, chart: str) -> str:
        p = self.params
        return f"{p.base_url.rstrip('/')}/{country}/apps/{chart}/{p.limit}/apps.json"

    async def poll(self, ctx: Context) -> list[Event]:
        out: list[Event] = []
        for country in self.params.countries:
            for chart in self.params.charts:
                url = self.url(country, chart)
                try:
                    data = await ctx.get_json(url)
                    if data is not None:  # None: not modified since the last poll
                        out += self.map(ctx, url, data, country, chart)
                except SourceError as exc:
                    ctx.failed(exc)
        return out

    def map(self, ctx: Context, url: str, data: Any, country: str, chart: str) -> list[Event]:
        feed = data.get("feed") if isinstance(data, dict) else None
        results = feed.get("results") if isinstance(feed, dict) else None
        if not isinstance(results, list):
            raise PayloadError(
                f'{url}: expected {{"feed": {{"results": [...]}}}}, got {_shape(data)}', "bad_payload", url
            )
        updated = _parse_time(feed.get("updated"))
        ts = updated or ctx.now
        snapshot = updated.isoformat() if updated else ctx.now.date().isoformat()
        out = []
        for pos, item in enumerate(results):
            where = f"{url}: results[{pos}]"
            if not isinstance(item, dict) or not str(item.get("id", "")).isdigit():
                ctx.failed(PayloadError(f'{where}: no numeric "id"', "bad_item"))
                continue
            store_id, name = str(item["id"]), item.get("name") or None
            try:
                app_id = self.catalog.app_id(name=name, ios=store_id)
                out.append(
                    self.event(
                        event_id=self.event_id(chart, country, snapshot, store_id),
                        type="app.rank",
                        ts=ts.isoformat(),
                        app_id=app_id,
                        app_name=name,
                        platform="ios",
                        country=country,
                        chart=chart,
                        category="all",
                        rank=pos + 1,
                    )
                )
            except (InvalidEvent, ValueError) as exc:
                ctx.failed(InvalidEvent("item", str(exc)), where)
        return out


def _parse_time(value: object) -> datetime | None:
    """The feed's ``updated``: RFC 1123 ("Tue, 26 Nov 2024 04:33:35 +0000") or ISO 8601."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _shape(data: Any) -> str:
    if isinstance(data, dict):
        return "an object with keys " + ", ".join(map(repr, list(data)[:5]))
    return type(data).__name__
