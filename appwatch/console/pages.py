"""The rules, connectors, market and backtest pages. Each reads through the API part's own
handler with the viewer as the caller; each form posts back here with its CSRF token.

    GET  /rules                 each rule with its state; a form to check an edited rules file
    POST /rules/check           action=check: the check's answer on the page; action=backtest:
                                a backtest of it over the last 24h, then -> /backtest/{id}
    GET  /connectors            each connector instance with its health
    GET  /market                per watched app: daily downloads and chart rank
    GET  /backtest              the upload form and the recent backtests
    POST /backtest              multipart ``file`` (JSONL or .csv), optional ``rules``
                                -> /backtest/{id}
    GET  /backtest/{id}         its progress, then its alerts and a link to its report

``X-Fragment: 1`` on /rules and /connectors answers the table alone (``data-refresh``).
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime

import faust
from aiohttp import web

from core.auth import Caller

from ..http import Answer
from ..worker.backtests import read_upload
from . import charts
from .view import Viewer, redirect

SPAN = "24h"  # the rules page's backtest over recent history
BAR_DAYS = 30  # days of downloads drawn per app
HOT_RATIO = 2.0  # a day at this many times its trailing 7-day median is drawn red


def _csrf_refused(who: Caller) -> web.Response | None:
    if who.session is not None and not who.csrf_ok:
        return web.json_response({"error": "the console's CSRF token is missing or wrong"}, status=403)
    return None


def _fragment(request: web.Request) -> bool:
    return request.headers.get("X-Fragment") == "1"


async def rules_page(console, request: web.Request, check: Answer | None = None, text: str = "") -> web.Response:
    viewer = Viewer(console.sessions, request)
    if viewer.session is None:
        return viewer.login()
    answer = console.parts.rules.status(viewer.who)
    if (no := viewer.refused(answer)) is not None:
        return no
    template = "rules_table.html.j2" if _fragment(request) and check is None else "rules.html.j2"
    status = 400 if check is not None and check.status == 400 else 200
    return viewer.page(template, status=status, rules=answer.body, check=check, text=text, span=SPAN)


async def rules_check(console, request: web.Request) -> web.Response:
    form = await request.post()
    who = console.sessions.caller(request, form_token=str(form.get("csrf_token") or ""))
    if (no := _csrf_refused(who)) is not None:
        return no
    text = str(form.get("rules") or "")
    if form.get("action") == "backtest":
        answer = await console.parts.rules.backtest(who, text, SPAN)
        if answer.status == 202:
            return redirect(f"/backtest/{answer.body['id']}")
    else:
        answer = console.parts.rules.check(who, text)
    viewer = Viewer(console.sessions, request)
    if (no := viewer.refused(answer)) is not None:
        return no
    return await rules_page(console, request, check=answer, text=text)


async def connectors_page(console, request: web.Request) -> web.Response:
    viewer = Viewer(console.sessions, request)
    if viewer.session is None:
        return viewer.login()
    answer = console.parts.connectors.get(viewer.who)
    if (no := viewer.refused(answer)) is not None:
        return no
    template = "connectors_table.html.j2" if _fragment(request) else "connectors.html.j2"
    return viewer.page(template, connectors=answer.body)


def _hot(days: list[tuple[str, float]]) -> str | None:
    """The day furthest above its trailing 7-day median, when it is ``HOT_RATIO`` above."""
    best, hot = HOT_RATIO, None
    for i in range(3, len(days)):
        base = statistics.median(v for _, v in days[max(0, i - 7) : i])
        if base > 0 and days[i][1] / base >= best:
            best, hot = days[i][1] / base, days[i][0]
    return hot


def _card(app: dict) -> dict:
    """What the market page draws of one app: its largest download series, its first chart."""
    series = max(app["downloads"], key=lambda s: sum(v for _, v in s["days"]), default=None)
    card = {**app, "series": series, "chart": app["ranks"][0] if app["ranks"] else None}
    if series:
        days = [(d[5:], v) for d, v in series["days"][-BAR_DAYS:]]
        last = days[-1][1]
        base = statistics.median(v for _, v in days[-8:-1]) if len(days) > 1 else None
        card["latest"], card["latest_day"] = last, series["days"][-1][0]
        card["change"] = (last / base - 1) * 100 if base else None
        card["bars"] = charts.bars(
            days, baseline=base, hot=_hot(days), title=f"{app['name']}: daily downloads ({series['country']})"
        )
    c = card["chart"]
    if c and len(c["points"]) > 1:
        span = c["points"][-1][0] - c["points"][0][0]
        fmt = "%m-%d" if span >= 2 * 86400 else "%m-%d %H:%M"
        points = [(datetime.fromtimestamp(t, UTC).strftime(fmt), r) for t, r in c["points"]]
        card["line"] = charts.line(points, invert=True, title=f"{app['name']}: rank on {c['chart']} {c['country']}")
    return card


async def market_page(console, request: web.Request) -> web.Response:
    viewer = Viewer(console.sessions, request)
    if viewer.session is None:
        return viewer.login()
    country = request.query.get("country") or None
    answer = console.parts.market.market(viewer.who, country)
    if (no := viewer.refused(answer)) is not None:
        return no
    if answer.status == 400:
        return viewer.page("error.html.j2", status=400, message=answer.body["error"], title="Bad request")
    cards = [_card(a) for a in answer.body["apps"]]
    cards.sort(key=lambda c: (c["chart"] is None, (c["chart"] or {}).get("rank") or 0, -(c.get("latest") or 0)))
    return viewer.page(
        "market.html.j2",
        cards=cards,
        worker=answer.body["worker"],
        hot_ratio=f"{HOT_RATIO:g}",
        countries=answer.body["countries"],
        country=country,
    )


async def backtest_page(console, request: web.Request, error: Answer | None = None) -> web.Response:
    viewer = Viewer(console.sessions, request)
    if viewer.session is None:
        return viewer.login()
    jobs = console.parts.backtests
    recent = [jobs.status(viewer.who, job_id) for job_id in reversed(list(jobs.jobs))]
    if recent and (no := viewer.refused(recent[0])) is not None:
        return no
    status = error.status if error is not None else 200
    return viewer.page("backtest.html.j2", status=status, error=error, jobs=[a.body for a in recent if a.status == 200])


async def backtest_start(console, request: web.Request) -> web.Response:
    up = await read_upload(request)
    who = console.sessions.caller(request, form_token=up.fields.get("csrf_token", ""))
    if (no := _csrf_refused(who)) is not None:
        return no
    answer = await console.parts.backtests.start(who, up.body, csv=up.csv, rules=up.rules)
    if answer.status == 202:
        return redirect(f"/backtest/{answer.body['id']}")
    if (no := Viewer(console.sessions, request).refused(answer)) is not None:
        return no
    return await backtest_page(console, request, error=answer)


async def backtest_job(console, request: web.Request, job_id: str) -> web.Response:
    viewer = Viewer(console.sessions, request)
    if viewer.session is None:
        return viewer.login()
    answer = console.parts.backtests.status(viewer.who, job_id)
    if (no := viewer.refused(answer)) is not None:
        return no
    if answer.status == 404:
        return viewer.page("error.html.j2", status=404, message=answer.body["error"])
    return viewer.page("backtest_job.html.j2", job=answer.body)


def install(console, app: faust.App) -> None:
    """Register /rules, /connectors, /market and /backtest."""

    @app.page("/rules")
    async def rules_view(web_, request):
        return await rules_page(console, request)

    @app.page("/rules/check")
    class RulesCheck(faust.web.View):
        async def post(self, request):
            return await rules_check(console, request)

    @app.page("/connectors")
    async def connectors_view(web_, request):
        return await connectors_page(console, request)

    @app.page("/market")
    async def market_view(web_, request):
        return await market_page(console, request)

    @app.page("/backtest")
    class Backtest(faust.web.View):
        async def get(self, request):
            return await backtest_page(console, request)

        async def post(self, request):
            return await backtest_start(console, request)

    @app.page("/backtest/{job_id}")
    class BacktestJob(faust.web.View):
        async def get(self, request, job_id):
            return await backtest_job(console, request, job_id)
