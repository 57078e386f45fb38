"""The market as this worker sees it:

    GET /api/v1/market     {"worker", "apps": [...]}: each watched app (the catalog, then any
                           other app this worker holds data of) with
                           ``downloads``: per series (platform, country) its daily totals
                           [[YYYY-MM-DD, total], ...] from the daily folds of this worker's
                           series state (the detect stage's partitions), and
                           ``ranks``: per chart (platform, country, chart, category) its rank
                           over time [[unix ts, rank], ...] and the current ``rank``.
                           Each series and chart says which ``worker`` reported it.

The rank rules' chart state (the control table, on the worker that owns the control
partition) keeps only each app's last rank, so this part keeps a bounded history per app
and chart (``KEEP_RANKS`` snapshots), sampled when asked and every ``SAMPLE_EVERY``
seconds: O(apps in the charts) each time, nothing on the per-event path.
Read scope (``core.auth``).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import date

import faust

from core.auth import Caller, Tokens
from streams.windows import Daily

from .api import Answer, caller, denied, reply

log = logging.getLogger(__name__)

KEEP_RANKS = 120  # rank snapshots kept per app and chart
SAMPLE_EVERY = 30.0  # seconds between samples of the chart state
METRIC = "downloads"


def names() -> dict[str, str]:
    """app_id -> display name, from the shipped catalog (the worker's)."""
    from connectors import catalog

    return {a: app.names.get("en") or app.names.get("zh") or a for a, app in catalog.shipped().apps.items()}


class MarketApi:
    def __init__(self, tokens: Tokens, parts, clock: Callable[[], float] = time.time) -> None:
        """``parts``: ``detect`` (its engine's catalog and stage's series state) and ``worker``."""
        self.tokens, self.parts, self.clock = tokens, parts, clock
        self.control: Mapping | None = None  # the rank rules' chart state (the ``control`` table)
        self.ranks: dict[tuple[str, str, str, str, str], deque] = {}  # (app, platform, country, chart, category)
        self.names = names()

    def sample(self) -> None:
        """Fold the charts' current ranks into the history (a snapshot seen once is kept once)."""
        if self.control is None:
            return
        for key, value in list(self.control.items()):
            parts = str(key).split("|")
            if len(parts) != 6 or parts[1] != "chart" or not isinstance(value, dict):
                continue
            chart = tuple(parts[2:])
            for app_id, (ts, rank) in dict(value.get("apps") or {}).items():
                hist = self.ranks.setdefault((app_id, *chart), deque(maxlen=KEEP_RANKS))
                if not hist or ts > hist[-1][0]:
                    hist.append((ts, rank))

    def downloads(self) -> dict[str, list[dict]]:
        """app_id -> its download series: the daily fold with the most days of each."""
        out: dict[str, list[dict]] = {}
        for part in list(self.parts.detect.stage.stage.state.values()):
            for key, st in list(part.items()):
                app_id, platform, country, metric = key.split("|")
                folds = [f for f in st.rules.values() if isinstance(f, Daily)]
                if metric != METRIC or not folds:
                    continue
                days = max(folds, key=lambda f: len(f.days)).days
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

    def market(self, who: Caller | str | None) -> Answer:
        if (no := denied(self.tokens, who, "read")) is not None:
            return no
        self.sample()
        companies = dict(self.parts.detect.engine.companies)
        downloads, ranks = self.downloads(), self.charts()
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
        return Answer(200, {"worker": self.parts.worker, "at": self.clock(), "apps": out})

    def install(self, app: faust.App) -> None:
        api = self
        api.control = app.tables.get("control")

        @app.timer(SAMPLE_EVERY)
        async def sample_ranks():
            api.sample()

        @app.page("/api/v1/market")
        class MarketView(faust.web.View):
            async def get(self, request):
                return reply(self, api.market(caller(request)))
