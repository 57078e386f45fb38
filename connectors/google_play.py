"""Source ``google_play``: install and rating counts from Google Play -> ``app.metric``.

Through the ``google-play-scraper`` library: ``app(package, lang, country)`` scrapes
play.google.com/store/apps/details and returns a dict with ``realInstalls`` (the exact
install count), ``installs`` ("100,000,000+"), ``ratings``, ``score``, ``title``, ``appId``...
The library blocks (urllib, no timeout), so each call runs in a daemon thread of its own
under ``timeout`` (``connectors.base.in_thread``); a call that times out is counted, and
its thread, which may never end, cannot keep the process alive. No retries here: the
next poll tries again.

The counts are worldwide whatever store front is asked (``country``), so events carry
``country: ww``. Per package:
- ``downloads``: the rise of ``realInstalls`` since the last reading (kept in
  ``ctx.state`` with its time), attributed to the poll's day (``period=day, mode=delta``:
  several polls a day add up). The first reading emits nothing (nothing to diff);
  a drop (a store correction) emits nothing, is counted (``installs_decreased``) and
  becomes the new baseline. The id is (package, previous reading, new value).
- ``rating_count`` (``instant``) from ``ratings``; id (package, day, value).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import threading
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field, model_validator

from connectors.base import Connector, Context, Country, Params, catalog_apps, in_thread
from connectors.errors import FetchError, PayloadError, SourceError
from core.events import Event, InvalidEvent

PLAY = "https://play.google.com"
Package = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+$")]
Fetch = Callable[..., dict]  # fetch(package, lang=, country=) -> the library's dict


class GooglePlayParams(Params):
    packages: list[Package] = Field([], description="Android package names")
    apps: Annotated[list[str], catalog_apps("android")] = Field(
        [], description="catalog app_ids; their Android ids are looked up"
    )
    country: Country = Field("us", description="store front to ask; the counts are worldwide")
    lang: Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Za-z]{2})?$")] = "en"
    timeout: float = Field(30.0, gt=0, description="seconds per app")
    base_url: str = Field(PLAY, pattern=r"^https?://", description="the store's address (tests)")

    @model_validator(mode="after")
    def _some(self) -> GooglePlayParams:
        if not self.packages and not self.apps:
            raise ValueError("give packages and/or apps")
        return self


class GooglePlay(Connector):
    kind = "google_play"
    Params = GooglePlayParams
    params: GooglePlayParams

    def __init__(self, params, catalog, fetch: Fetch | None = None) -> None:
        super().__init__(params, catalog)
        self.fetch = fetch or functools.partial(play_app, base_url=params.base_url)

    def package_names(self) -> list[str]:
        names = list(self.params.packages)
        for app_id in self.params.apps:
            app = self.catalog.get(app_id)
            if app and "android" in app.stores:
                names.append(app.stores["android"])
        return list(dict.fromkeys(names))

    async def poll(self, ctx: Context) -> list[Event]:
        out: list[Event] = []
        for package in self.package_names():
            try:
                data = await self.get(package)
                ctx.fetched += 1
                out += self.map(ctx, package, data)
            except SourceError as exc:
                ctx.failed(exc)
        return out

    async def get(self, package: str) -> dict:
        p = self.params
        where = f"google play {package} ({p.lang}-{p.country})"
        call = in_thread(self.fetch, package, lang=p.lang, country=p.country)
        try:
            data = await asyncio.wait_for(call, p.timeout)
        except SourceError:
            raise
        except TimeoutError:
            raise FetchError(f"{where}: no answer in {p.timeout:g}s", "timeout") from None
        except OSError as exc:
            raise FetchError(f"{where}: {exc!r}", "connection") from None
        except Exception as exc:  # noqa: BLE001 - whatever the library raises is one counted error
            raise FetchError(f"{where}: {exc!r}", "fetch") from None
        if not isinstance(data, dict):
            raise PayloadError(f"{where}: expected a dict, got {type(data).__name__}")
        return data

    def map(self, ctx: Context, package: str, data: dict) -> list[Event]:
        p, where = self.params, f"google play {package}"
        installs, ratings = data.get("realInstalls"), data.get("ratings")
        if not _count(installs):
            raise PayloadError(
                f'{where}: no "realInstalls" count (got {installs!r}); the page layout may have changed', "bad_payload"
            )
        name = data.get("title") if isinstance(data.get("title"), str) else None
        common = dict(
            type="app.metric",
            ts=ctx.now.isoformat(),
            platform="android",
            country="ww",
            app_id=self.catalog.app_id(name=name, android=package),
            app_name=name,
        )
        out = []
        readings = ctx.state.setdefault("installs", {})
        key, now = f"{package}|{p.country}", ctx.now.isoformat()
        prev = readings.get(key)
        readings[key] = {"value": installs, "at": now}
        try:
            if prev and installs > prev["value"]:
                out.append(
                    self.event(
                        event_id=self.event_id("downloads", key, prev["value"], prev["at"], installs),
                        metric="downloads",
                        value=installs - prev["value"],
                        period="day",
                        mode="delta",
                        **common,
                    )
                )
            elif prev and installs < prev["value"]:
                ctx.failed(
                    PayloadError(
                        f"{where}: realInstalls went down from {prev['value']} to {installs} "
                        "(a store correction?); no downloads emitted, new baseline",
                        "installs_decreased",
                    )
                )
            elif prev and installs == prev["value"]:
                readings[key] = prev  # unchanged: the rise is measured from the first sighting
            if _count(ratings):
                out.append(
                    self.event(
                        event_id=self.event_id("rating_count", package, ctx.now.date(), ratings),
                        metric="rating_count",
                        value=ratings,
                        period="instant",
                        **common,
                    )
                )
        except InvalidEvent as exc:
            ctx.failed(exc, where)
        return out


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


_urls = threading.Lock()


def play_app(package: str, lang: str = "en", country: str = "us", base_url: str = PLAY) -> dict:
    """``google_play_scraper.app``, with its errors as ``SourceError``s (blocking)."""
    gps, errors = _library()
    try:
        if base_url == PLAY:
            return gps.app(package, lang=lang, country=country)
        from google_play_scraper.constants.request import Formats

        with _urls:  # the library keeps its URL templates in class attributes
            saved = Formats.Detail.URL_FORMAT, Formats.Detail.FALLBACK_URL_FORMAT
            base = base_url.rstrip("/") + "/store/apps/details"
            Formats.Detail.URL_FORMAT = base + "?id={app_id}&hl={lang}&gl={country}"
            Formats.Detail.FALLBACK_URL_FORMAT = base + "?id={app_id}&hl={lang}"
            try:
                return gps.app(package, lang=lang, country=country)
            finally:
                Formats.Detail.URL_FORMAT, Formats.Detail.FALLBACK_URL_FORMAT = saved
    except errors.NotFoundError as exc:
        raise FetchError(f"google play {package}: not found ({exc})", "http_404") from None
    except errors.ExtraHTTPError as exc:
        raise FetchError(f"google play {package}: {exc}", "http") from None
    except (ValueError, LookupError, TypeError) as exc:  # the page did not parse
        raise PayloadError(f"google play {package}: unreadable page: {exc!r}", "bad_payload") from None


def _library():
    """Import the library lazily, undoing its import-time switch-off of TLS verification
    (it sets ``ssl._create_default_https_context`` to the unverified one, process-wide)."""
    saved = ssl._create_default_https_context
    try:
        import google_play_scraper
        from google_play_scraper import exceptions
    finally:
        ssl._create_default_https_context = saved
    return google_play_scraper, exceptions
