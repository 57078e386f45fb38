"""The web console, served by the worker beside its API: server-rendered Jinja2 pages, one
small script of our own (``static/console.js``), charts drawn as SVG on the server. No
build step, nothing fetched from elsewhere.

    GET  /login, POST /login, POST /logout     the session (``session.py``)
    GET  /                                     -> /alerts
    GET  /alerts, /alerts/{id}                 firing alerts; one alert, its chart (alerts.py)
    GET  /silences, POST /silences ...         silences (alerts.py)
    GET  /rules, /connectors, /market          (pages.py)
    GET  /backtest, POST /backtest             (pages.py)
    GET  /static/{name}

A page reads through the same handlers as the API, with the viewer's session as the
caller, so a page shows what the API would answer them and nothing more.
"""

from __future__ import annotations

from types import SimpleNamespace

import faust
from aiohttp import web

from ..http import CALLER
from . import alerts, pages
from .session import COOKIE, LOGIN_COOKIE, Sessions
from .view import NO_STORE, Viewer, redirect, static


class Console:
    def __init__(self, sessions: Sessions, parts: SimpleNamespace) -> None:
        """``parts``: the worker's API parts the pages read through (``amapi``, ``api``,
        ``rules``, ``connectors``, ``backtests``, ``detect``)."""
        self.sessions, self.parts = sessions, parts

    async def login_form(self, request: web.Request) -> web.Response:
        viewer = Viewer(self.sessions, request)
        cookie, token = self.sessions.login_token()
        resp = viewer.page("login.html.j2", login_csrf=token, next=request.query.get("next", "/alerts"), error=None)
        resp.set_cookie(LOGIN_COOKIE, cookie, max_age=3600, httponly=True, samesite="Strict", path="/login")
        return resp

    async def login(self, request: web.Request) -> web.Response:
        form = await request.post()
        viewer = Viewer(self.sessions, request)
        nxt = str(form.get("next") or "/alerts")
        if not self.sessions.login_token_ok(request.cookies.get(LOGIN_COOKIE), str(form.get("csrf_token") or "")):
            return viewer.page("login.html.j2", status=403, login_csrf="", next=nxt, error="The form expired: reload.")
        value = self.sessions.login(str(form.get("username") or ""), str(form.get("password") or ""))
        if value is None:
            cookie, token = self.sessions.login_token()
            resp = viewer.page("login.html.j2", status=401, login_csrf=token, next=nxt, error="Wrong name or password.")
            resp.set_cookie(LOGIN_COOKIE, cookie, max_age=3600, httponly=True, samesite="Strict", path="/login")
            return resp
        resp = redirect(nxt)
        self.sessions.set_cookie(resp, value)
        resp.del_cookie(LOGIN_COOKIE, path="/login")
        return resp

    async def logout(self, request: web.Request) -> web.Response:
        form = await request.post()
        who = self.sessions.caller(request, form_token=str(form.get("csrf_token") or ""))
        if who.session is not None and not who.csrf_ok:
            return web.json_response({"error": "the console's CSRF token is missing or wrong"}, status=403)
        resp = redirect("/login")
        resp.del_cookie(COOKIE, path="/")
        return resp

    def middleware(self):
        sessions = self.sessions

        @web.middleware
        async def who(request: web.Request, handler):
            request[CALLER] = sessions.caller(request)
            resp = await handler(request)
            if request.path.startswith(("/api/", "/login", "/logout")) or request.path == "/":
                resp.headers.setdefault("Cache-Control", "no-store")
            return resp

        return who

    def install(self, app: faust.App) -> None:
        console = self
        app.web.web_app.middlewares.append(self.middleware())

        @app.page("/login")
        class Login(faust.web.View):
            async def get(self, request):
                return await console.login_form(request)

            async def post(self, request):
                return await console.login(request)

        @app.page("/logout")
        class Logout(faust.web.View):
            async def post(self, request):
                return await console.logout(request)

        @app.page("/")
        async def index(web_, request):
            return redirect("/alerts")

        @app.page("/static/{name}")
        async def static_view(web_, request, name):
            return static(name)

        alerts.install(self, app)
        pages.install(self, app)


__all__ = ["Console", "NO_STORE", "Sessions"]
