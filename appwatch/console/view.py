"""What every console page uses: the templates, the answers (a page, a fragment, a
redirect), and who the viewer is. Pages call the same handlers as the HTTP API (they
answer ``Answer``); a page renders the body, an API view sends it as JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import quote

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from core.auth import Caller

from ..http import Answer, caller
from .session import COOKIE, Sessions

STATIC = {n: "text/css" for n in ("console.css", "alerts.css", "pages.css")} | {"console.js": "text/javascript"}


def _when(t: float | str | None) -> str:
    if t is None or t == "":
        return "—"
    if isinstance(t, str):
        try:
            t = datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return t
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(v: float | None) -> str:
    if v is None:
        return "—"
    return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:,.2f}"


env = Environment(loader=PackageLoader("appwatch.console", "templates"), autoescape=select_autoescape(["j2"]))
env.filters.update(when=_when, number=_number, q=lambda s: quote(str(s), safe=""))


def static(name: str) -> web.Response:
    if name not in STATIC:
        return web.Response(status=404, text="not found")
    body = resources.files("appwatch.console").joinpath("static", name).read_bytes()
    return web.Response(body=body, content_type=STATIC[name], headers={"Cache-Control": "max-age=300"})


class Viewer:
    """The signed-in user of a page request, and how to answer them."""

    def __init__(self, sessions: Sessions, request: web.Request) -> None:
        self.request = request
        self.session = sessions.load(request.cookies.get(COOKIE))
        self.who: Caller = caller(request)

    @property
    def may_write(self) -> bool:
        return self.session is not None and self.session.scope == "write"

    def login(self) -> web.Response:
        """Off to the login form, back here after it."""
        return redirect(f"/login?next={quote(self.request.path_qs, safe='')}")

    def page(self, template: str, status: int = 200, **ctx: Any) -> web.Response:
        html = env.get_template(template).render(
            user=self.session.user if self.session else None,
            scope=self.session.scope if self.session else None,
            csrf=self.session.csrf if self.session else "",
            path=self.request.path,
            **ctx,
        )
        return web.Response(text=html, status=status, content_type="text/html", headers=NO_STORE)

    def refused(self, answer: Answer) -> web.Response | None:
        """The answer to a page whose handler said 401 (log in) or 403; None otherwise."""
        if answer.status == 401:
            return self.login()
        if answer.status == 403:
            return self.page("error.html.j2", status=403, message=_message(answer))
        return None


NO_STORE = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}


def _message(answer: Answer) -> str:
    body = answer.body
    return body.get("error", str(body)) if isinstance(body, dict) else str(body)


def redirect(location: str, status: int = 303) -> web.Response:
    if not location.startswith("/") or location.startswith("//"):
        location = "/"  # only back into the console, never elsewhere
    return web.Response(status=status, headers={"Location": location, **NO_STORE})
