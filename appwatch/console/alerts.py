"""The alerts and silences pages. Each reads and writes through the API parts (the alerts
API, Alertmanager's API for silences and the preview, the silences API to add and expire)
with the viewer's session as the caller, so a page shows and does what the API would.

    GET  /alerts                  grouped, filtered (GET params); the list refreshes itself
                                  (``X-Fragment: 1`` answers just the list)
    GET  /alerts/{id}             one alert: its chart, its news, the silences muting it
    GET  /silences                active, pending and lately expired silences
    GET  /silences/new?alert=ID   a silence form, matchers from the alert's labels
    POST /silences/preview        (JSON, from console.js) the alerts those matchers would mute
    POST /silences                create, then back to /silences
    POST /silences/{id}/expire    expire, then back to /silences

A page without a session goes to the login form; a fragment or a POST without one is
answered 401. Every POST needs the session's CSRF token (403 without it), and a change
needs write scope (403 for a read user).
"""

from __future__ import annotations

import time

import faust
from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from core.matchers import Matcher
from core.yamlfile import Duration

from ..http import Answer, denied
from ..worker.alerts_api import DEFAULT_STATES, STATES
from ..worker.amapi import from_am_matcher, parse_time
from . import charts
from .view import NO_STORE, Viewer, env, redirect

HIDDEN = frozenset({"alert_id", "alertname", "rule", "kind", "severity"})  # shown elsewhere on a row
NOT_PREFILLED = frozenset({"alert_id", "rule", "kind", "severity"})
EXPIRED_SHOWN = 86400.0  # expired silences stay listed this long
DURATION = TypeAdapter(Duration)


def own(labels: dict[str, str]) -> dict[str, str]:
    """The labels worth showing on a row (the rest have columns of their own)."""
    return {k: v for k, v in labels.items() if k not in HIDDEN}


def fragment(template: str, status: int = 200, **ctx) -> web.Response:
    html = env.get_template(template).render(**ctx)
    return web.Response(text=html, status=status, content_type="text/html", headers=NO_STORE)


def unauthorized() -> web.Response:
    return web.Response(status=401, text="log in again", headers=NO_STORE)


def lines_of(text) -> list[str]:
    """The lines of a textarea (or a list of them), stripped; blank ones kept, so that an
    error names the line the user sees."""
    items = text if isinstance(text, list) else str(text or "").splitlines()
    return [str(line).strip() for line in items]


def check_lines(lines: list[str]) -> str | None:
    """Why a matcher line is bad, naming the line; None when all parse."""
    if not any(lines):
        return 'matchers: write at least one, like app_id="doubao"'
    for i, line in enumerate(lines, 1):
        try:
            if line:
                Matcher.parse(line)
        except ValueError as exc:
            return f"matchers, line {i}: {exc}"
    return None


def duration_of(text: str) -> float:
    """``30m``, ``2h``, ``1d`` in seconds; ValueError naming the field."""
    try:
        seconds = DURATION.validate_python(str(text or "2h").strip())
    except ValidationError:
        raise ValueError(f"duration: {text!r} is not like 30m, 2h or 1d") from None
    if seconds <= 0:
        raise ValueError("duration: must be more than zero")
    return seconds


def prefill(alert: dict | None) -> str:
    """One ``name="value"`` line per label of the alert worth matching on."""
    if alert is None:
        return ""
    return "\n".join(
        str(Matcher(name=k, op="=", value=v)) for k, v in alert["labels"].items() if k not in NOT_PREFILLED
    )


def silence_rows(answer: Answer, now: float) -> list[dict]:
    """Alertmanager's silences as the page lists them: current first, lately expired after."""
    rows = []
    for s in answer.body:
        ends = parse_time(s["endsAt"])
        if s["status"]["state"] == "expired" and ends < now - EXPIRED_SHOWN:
            continue
        matchers = [str(from_am_matcher(m)) for m in s["matchers"]]
        rows.append(s | {"state": s["status"]["state"], "matcher_text": matchers, "ends": ends})
    order = {"active": 0, "pending": 1, "expired": 2}
    return sorted(rows, key=lambda r: (order.get(r["state"], 3), -r["ends"] if r["state"] == "expired" else r["ends"]))


def chart(alert: dict):
    """The alert's daily series with its baseline and threshold; None without one."""
    if not alert.get("trend"):
        return None
    day = (alert.get("window_start") or "")[:10]
    return charts.bars(
        [(d, v) for d, v in alert["trend"]],
        baseline=alert.get("baseline"),
        threshold=alert.get("threshold"),
        hot=day,
        title=alert["summary"],
    )


class Pages:
    def __init__(self, console) -> None:
        self.console, self.parts = console, console.parts

    def viewer(self, request: web.Request) -> Viewer:
        return Viewer(self.console.sessions, request)

    # -- alerts ----------------------------------------------------------------

    def query(self, request: web.Request) -> dict:
        q = request.query
        text = q.get("filter", "").strip()
        filters = [f"{{{text}}}" if text and not text.startswith("{") else text] if text else []
        states = q.getall("state", [])
        group_by = q.get("group_by", "rule").strip()
        return dict(text=text, filters=filters, states=states, group_by=group_by)

    async def alerts(self, request: web.Request) -> web.Response:
        viewer, wanted = self.viewer(request), self.query(request)
        is_fragment = request.headers.get("X-Fragment") == "1"
        if viewer.session is None:
            return unauthorized() if is_fragment else viewer.login()
        answer = self.parts.alerts.list(viewer.who, wanted["filters"], wanted["states"], wanted["group_by"])
        if (no := viewer.refused(answer)) is not None:
            return no
        ok = answer.status == 200
        ctx = dict(
            groups=answer.body["groups"] if ok else [],
            total=answer.body["total"] if ok else 0,
            error=None if ok else answer.body["error"],
            own=own,
            may_write=viewer.may_write,
        )
        if is_fragment:
            return fragment("alerts_list.html.j2", **ctx)
        checked = set(wanted["states"]) or set(DEFAULT_STATES)
        return viewer.page(
            "alerts.html.j2", status=200 if ok else 400, all_states=STATES, checked=checked, **wanted, **ctx
        )

    async def alert(self, request: web.Request, alert_id: str) -> web.Response:
        viewer = self.viewer(request)
        if viewer.session is None:
            return viewer.login()
        answer = self.parts.alerts.get(viewer.who, alert_id)
        if (no := viewer.refused(answer)) is not None:
            return no
        if answer.status == 404:
            return viewer.page("error.html.j2", status=404, message=f"No alert {alert_id} (it may have ended).")
        alert = answer.body
        muting = [self.parts.amapi.get_silence(viewer.who, sid) for sid in alert["silencedBy"]]
        now = time.time()
        silences = silence_rows(Answer(200, [m.body for m in muting if m.status == 200]), now)
        return viewer.page(
            "alerts_detail.html.j2",
            alert=alert,
            chart=chart(alert),
            silences=silences,
            own=own,
            may_write=viewer.may_write,
        )

    # -- silences --------------------------------------------------------------

    async def silences(self, request: web.Request) -> web.Response:
        viewer = self.viewer(request)
        if viewer.session is None:
            return viewer.login()
        answer = self.parts.amapi.list_silences(viewer.who, [])
        if (no := viewer.refused(answer)) is not None:
            return no
        rows = silence_rows(answer, time.time())
        return viewer.page("silences.html.j2", silences=rows, may_write=viewer.may_write)

    async def new_silence(self, request: web.Request) -> web.Response:
        viewer = self.viewer(request)
        if viewer.session is None:
            return viewer.login()
        if not viewer.may_write:
            return viewer.page("error.html.j2", status=403, message="Silencing needs write scope.")
        aid = request.query.get("alert", "")
        form = dict(matchers=prefill(self.alert_of(viewer, aid)), comment="", duration="2h")
        return self.silence_form(viewer, aid, form, None)

    def alert_of(self, viewer: Viewer, aid: str) -> dict | None:
        found = self.parts.alerts.get(viewer.who, aid) if aid else None
        return found.body if found is not None and found.status == 200 else None

    def silence_form(self, viewer: Viewer, aid: str, form: dict, error, status: int = 200) -> web.Response:
        alert = self.alert_of(viewer, aid)
        return viewer.page(
            "silence_new.html.j2", status=status, alert=alert, alert_id=aid, form=form, error=error, own=own
        )

    async def preview(self, request: web.Request) -> web.Response:
        who = self.console.sessions.caller(request)
        if who.session is None:
            return unauthorized()
        if not who.csrf_ok:
            return fragment("silence_preview.html.j2", status=403, error="the console's CSRF token is missing or wrong")
        try:
            body = await request.json()
            lines = lines_of(body.get("matchers"))
        except (ValueError, AttributeError):
            return fragment("silence_preview.html.j2", status=400, error="the preview needs a JSON object")
        if (why := check_lines(lines)) is not None:
            return fragment("silence_preview.html.j2", status=400, error=why)

        async def payload():
            return {"matchers": [line for line in lines if line]}

        answer = await self.parts.amapi.preview(who, payload)
        if answer.status != 200:
            error = answer.body.get("error") if isinstance(answer.body, dict) else str(answer.body)
            return fragment("silence_preview.html.j2", status=answer.status, error=error)
        return fragment("silence_preview.html.j2", hits=answer.body, own=own)

    async def create(self, request: web.Request) -> web.Response:
        form = await request.post()
        who = self.console.sessions.caller(request, form_token=str(form.get("csrf_token") or ""))
        viewer = self.viewer(request)
        if who.session is None:
            return unauthorized()
        if (no := viewer.refused(denied(self.parts.api.tokens, who, "write") or Answer(200, None))) is not None:
            return no
        fields = {k: str(form.get(k) or "") for k in ("matchers", "comment", "duration")}
        aid, lines, now = str(form.get("alert") or ""), lines_of(fields["matchers"]), time.time()
        try:
            why, ends = check_lines(lines), now + duration_of(fields["duration"])
        except ValueError as exc:
            why, ends = str(exc), now
        if why is not None:
            return self.silence_form(viewer, aid, fields, why, status=400)

        async def body():
            return dict(
                matchers=[line for line in lines if line],
                starts_at=now,
                ends_at=ends,
                created_by=viewer.session.user,
                comment=fields["comment"],
            )

        answer = await self.parts.api.add(who, body)
        if (no := viewer.refused(answer)) is not None:
            return no
        if answer.status != 201:
            return self.silence_form(viewer, aid, fields, answer.body.get("error"), status=answer.status)
        return redirect("/silences")

    async def expire(self, request: web.Request, silence_id: str) -> web.Response:
        form = await request.post()
        who = self.console.sessions.caller(request, form_token=str(form.get("csrf_token") or ""))
        viewer = self.viewer(request)
        if who.session is None:
            return unauthorized()
        answer = await self.parts.api.expire(who, silence_id)
        if (no := viewer.refused(answer)) is not None:
            return no
        if answer.status == 404:
            return viewer.page("error.html.j2", status=404, message=f"No silence {silence_id}.")
        return redirect("/silences")


def install(console, app: faust.App) -> None:
    """Register /alerts, /alerts/{id}, /silences and their forms."""
    pages = Pages(console)

    @app.page("/alerts")
    class AlertsView(faust.web.View):
        async def get(self, request):
            return await pages.alerts(request)

    @app.page("/alerts/{alert_id}")
    class AlertView(faust.web.View):
        async def get(self, request, alert_id):
            return await pages.alert(request, alert_id)

    @app.page("/silences")
    class SilencesView(faust.web.View):
        async def get(self, request):
            return await pages.silences(request)

        async def post(self, request):
            return await pages.create(request)

    @app.page("/silences/new")
    class NewSilenceView(faust.web.View):
        async def get(self, request):
            return await pages.new_silence(request)

    @app.page("/silences/preview")
    class PreviewView(faust.web.View):
        async def post(self, request):
            return await pages.preview(request)

    @app.page("/silences/{silence_id}/expire")
    class ExpireView(faust.web.View):
        async def post(self, request, silence_id):
            return await pages.expire(request, silence_id)
