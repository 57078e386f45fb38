"""appwatch's own alerts API (``/api/v1/alerts``): to be built."""

from __future__ import annotations

import faust

from core.auth import Tokens


class AlertsApi:
    def __init__(self, tokens: Tokens, parts) -> None:
        self.tokens, self.parts = tokens, parts

    def install(self, app: faust.App) -> None:
        pass
