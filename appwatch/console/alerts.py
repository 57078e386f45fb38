"""The alerts and silences pages (filled in by the alerts page work)."""

from __future__ import annotations

import faust

from .view import Viewer


def install(console, app: faust.App) -> None:
    """Register /alerts, /alerts/{id}, /silences and their forms."""

    @app.page("/alerts")
    async def alerts_page(web_, request):
        viewer = Viewer(console.sessions, request)
        if viewer.session is None:
            return viewer.login()
        return viewer.page("error.html.j2", message="alerts: to do")
