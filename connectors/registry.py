"""The connector kinds: ``kind`` -> connector class. Add a source here.

``KINDS`` is built once, at import, and read-only: a caller wanting other kinds (a
test's fake source) passes its own mapping (``Runner(kinds=...)``, ``config.parse(kinds=...)``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from connectors.apple_charts import AppleCharts
from connectors.base import Connector
from connectors.download_estimates import DownloadEstimates
from connectors.google_play import GooglePlay
from connectors.hn_search import HnSearch
from connectors.itunes_lookup import ItunesLookup
from connectors.job_boards import Greenhouse, Lever
from connectors.news_feed import NewsFeed

KINDS: Mapping[str, type[Connector]] = MappingProxyType(
    {
        c.kind: c
        for c in (AppleCharts, ItunesLookup, NewsFeed, HnSearch, DownloadEstimates, Greenhouse, Lever, GooglePlay)
    }
)
