"""The rules, connectors, market and backtest pages (filled in by the pages work)."""

from __future__ import annotations

import faust


def install(console, app: faust.App) -> None:
    """Register /rules, /connectors, /market and /backtest."""
