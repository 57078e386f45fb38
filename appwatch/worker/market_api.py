"""The market as the worker sees it (``/api/v1/market``): to be built."""

from __future__ import annotations

import faust

from core.auth import Tokens


class MarketApi:
    def __init__(self, tokens: Tokens, parts) -> None:
        self.tokens, self.parts = tokens, parts

    def install(self, app: faust.App) -> None:
        pass
