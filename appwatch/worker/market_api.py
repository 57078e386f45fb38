"""The market as this worker sees it:

    GET /api/v1/market     {"worker", "countries", "apps": [...]}: each watched app (the catalog, then any
                           other app this worker holds data of) with
                           ``downloads``: per series (platform, country) its daily totals
                           [[YYYY-MM-DD, total], ...] from the daily folds of this worker's
                           series state (the detect stage's partitions), and
                           ``ranks``: per chart (platform, country, chart, category) its rank
                           over time [[unix ts, rank], ...] and the current ``rank``.
                           Each series and chart says which ``worker`` reported it.
                           ``?country=us``: one market's series and charts only;
                           ``countries``: every market this worker holds data of.

The rank rules' chart state keeps only each app's last rank (and only on the worker that
owns the control partition), so every worker follows the ranks topic itself, outside any
group, as it follows the connectors' status: a bounded history per app and chart
(``KEEP_RANKS`` snapshots, watched apps only when there is a catalog). Rank events are
few (a chart a few times a day), and the per-event path of the metrics is not touched.
Read scope (``core.auth``).
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from datetime import date

import faust

from core.auth import Caller, Tokens
from core.events import InvalidEvent, decode
from streams import windows
from streams.windows import Daily

from ..http import Answer, caller, denied, reply
from .base import follow

KEEP_RANKS = 120  # rank snapshots kept per app and chart
METRIC = "downloads"


COUNTRY = re.compile(r"[a-z]{2}")


def _in(by_app: dict[str, list[dict]], country: str) -> dict[str, list[dict]]:
    """Only ``country``'s series or charts of each app (apps left with none dropped)."""
    out = {a: [s for s in series if s["country"] == country] for a, series in by_app.items()}
    return {a: series for a, series in out.items() if series}


def names() -> dict[str, str]:
    """app_id -> display name, from the shipped catalog (the worker's)."""
    from connectors import catalog

    return {a: app.names.get("en") or app.names.get("zh") or a for a, app in catalog.shipped().apps.items()}


class MarketApi:
    def __init__(self, tokens: Tokens, parts, clock: Callable[[], float] = time.time) -> None:
        """``parts``: ``detect`` (its engine's catalog and stage's series state) and ``worker``."""
        self.tokens, self.parts, self.clock = tokens, parts, clock
        self.ranks: dict[tuple[str, str, str, str, str], deque] = {}  # (app, platform, country, chart, category)
        self.names = names()

    def apply(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        """One record of the ranks topic: its app's rank on its chart at its ``ts``. An
        invalid record (the detect stage sends it to the DLQ) or an older one is skipped."""
        try:
            ev = decode(value)
        except InvalidEvent:
            return
        companies = self.parts.detect.engine.companies
        if ev.type != "app.rank" or (companies and ev.app_id not in companies):
            return
        hist = self.ranks.setdefault(
            (ev.app_id, ev.platform, ev.country, ev.chart, ev.category), deque(maxlen=KEEP_RANKS)
        )
        ts = ev.ts.timestamp()
        if not hist or ts > hist[-1][0]:
            hist.append((ts, ev.rank))
        elif ts == hist[-1][0]:
            hist[-1] = (ts, ev.rank)

    def downloads(self) -> dict[str, list[dict]]:
        """app_id -> its download series: the daily fold with the most days of each."""
        out: dict[str, list[dict]] = {}
        for part in list(self.parts.detect.stage.stage.state.values()):
            for key, st in list(part.items()):
                app_id, platform, country, metric = key.split("|")
                folds = [f for f in st.rules.values() if isinstance(f, Daily)]
                if metric != METRIC or not folds:
                    continue
                days = windows.days(max(folds, key=lambda f: len(windows.days(f))))
                out.setdefault(app_id, []).append(
                    {
                        "platform": platform,
                        "country": country,
                        "metric": metric,
                        "days": [[date.fromordinal(d).isoformat(), v] for d, v in sorted(days.items())],
                        "worker": self.parts.worker,
                    }
                )
        return out

    def charts(self) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for (app_id, platform, country, chart, category), hist in sorted(self.ranks.items()):
            out.setdefault(app_id, []).append(
                {
                    "platform": platform,
                    "country": country,
                    "chart": chart,
                    "category": category,
                    "points": [list(p) for p in hist],
                    "rank": hist[-1][1] if hist else None,
                    "worker": self.parts.worker,
                }
            )
        return out

    def market(self, who: Caller | str | None, country: str | None = None) -> Answer:
        """``country``: one market's series and charts only (``countries`` lists them all)."""
        if (no := denied(self.tokens, who, "read")) is not None:
            return no
        if country is not None and not COUNTRY.fullmatch(country):
            return Answer(400, {"error": f"country: two lower-case letters (cn, us, ww), got {country!r}"})
        companies = dict(self.parts.detect.engine.companies)
        downloads, ranks = self.downloads(), self.charts()
        countries = sorted({s["country"] for series in (*downloads.values(), *ranks.values()) for s in series})
        if country is not None:
            downloads, ranks = _in(downloads, country), _in(ranks, country)
        apps = [*companies, *sorted((set(downloads) | set(ranks)) - set(companies))]
        out = [
            {
                "app_id": a,
                "name": self.names.get(a, a),
                "company": companies.get(a),
                "watched": a in companies,
                "downloads": sorted(downloads.get(a, []), key=lambda s: (s["platform"], s["country"])),
                "ranks": ranks.get(a, []),
            }
            for a in apps
        ]
        return Answer(200, {"worker": self.parts.worker, "at": self.clock(), "countries": countries, "apps": out})

    def install(self, app: faust.App) -> None:
        api, stage = self, self.parts.detect.stage

        @app.task
        async def follow_ranks():
            await follow(stage.settings, self.parts.detect.topics.ranks, api.apply, stage.checks)

        @app.page("/api/v1/market")
        class MarketView(faust.web.View):
            async def get(self, request):
                return reply(self, api.market(caller(request), request.query.get("country")))
