"""Source ``itunes_lookup``: rating counts from the iTunes Lookup API -> ``app.metric``.

GET {base_url}/lookup?id=ID1,ID2&country=cn returns
``{"resultCount": N, "results": [{"trackId", "trackName", "userRatingCount", "bundleId", ...}]}``.
Each app becomes ``metric=rating_count, period=instant, platform=ios`` at the poll time.
The event id includes the poll day and the value: an unchanged count is emitted once
a day, a changed one at once.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from connectors.base import Connector, Context, Country, Params, catalog_apps
from connectors.errors import PayloadError, SourceError
from core.events import Event, InvalidEvent

IosId = Annotated[str, Field(pattern=r"^[0-9]{1,15}$")]


class ItunesLookupParams(Params):
    base_url: str = Field("https://itunes.apple.com", pattern=r"^https?://")
    ids: list[IosId] = Field([], description="App Store numeric ids")
    apps: Annotated[list[str], catalog_apps("ios")] = Field(
        [], description="catalog app_ids; their iOS ids are looked up"
    )
    countries: Annotated[list[Country], Field(min_length=1)] = ["cn"]
    batch: int = Field(100, ge=1, le=200, description="ids per request")

    @field_validator("ids", mode="before")
    @classmethod
    def _ints(cls, v: Any) -> Any:
        return [str(i) if isinstance(i, int) else i for i in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _some(self) -> ItunesLookupParams:
        if not self.ids and not self.apps:
            raise ValueError("give ids and/or apps")
        return self


class ItunesLookup(Connector):
    kind = "itunes_lookup"
    Params = ItunesLookupParams
    params: ItunesLookupParams

    def store_ids(self) -> list[str]:
        ids = list(self.params.ids)
        for app_id in self.params.apps:
            app = self.catalog.get(app_id)
            if app and "ios" in app.stores:
                ids.append(app.stores["ios"])
        return list(dict.fromkeys(ids))

    async def poll(self, ctx: Context) -> list[Event]:
        ids, n = self.store_ids(), self.params.batch
        url = f"{self.params.base_url.rstrip('/')}/lookup"
        out: list[Event] = []
        for country in self.params.countries:
            for i in range(0, len(ids), n):
                query = {"id": ",".join(ids[i : i + n]), "country": country}
                try:
                    data = await ctx.get_json(url, query)
                    if data is not None:
                        out += self.map(ctx, ctx.http.url(url, query), data, country)
                except SourceError as exc:
                    ctx.failed(exc)
        return out

    def map(self, ctx: Context, url: str, data: Any, country: str) -> list[Event]:
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise PayloadError(f'{url}: expected {{"results": [...]}}', "bad_payload", url)
        out = []
        day = ctx.now.date().isoformat()
        for pos, item in enumerate(results):
            where = f"{url}: results[{pos}]"
            if not isinstance(item, dict) or not isinstance(item.get("trackId"), int):
                ctx.failed(PayloadError(f'{where}: no integer "trackId"', "bad_item"))
                continue
            count = item.get("userRatingCount")
            if count is None:
                continue  # no ratings in this country yet
            track, name = item["trackId"], item.get("trackName") or None
            try:
                out.append(
                    self.event(
                        event_id=self.event_id("rating_count", country, track, day, count),
                        type="app.metric",
                        ts=ctx.now.isoformat(),
                        app_id=self.catalog.app_id(name=name, ios=track),
                        app_name=name,
                        platform="ios",
                        country=country,
                        metric="rating_count",
                        value=count,
                        period="instant",
                    )
                )
            except (InvalidEvent, ValueError) as exc:
                ctx.failed(InvalidEvent("item", str(exc)), where)
        return out
