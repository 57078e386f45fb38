"""Every route of the worker asks for a scope (core.auth), in one table checked against the
routes the app registers, so a route missing from the table fails:

- the API (/api/v1, /api/v2): 401 without a known bearer token, 403 with a read token where
  writing is needed; a console session of a read user gets 403 on a write route; a write
  user's session without its CSRF token gets 403 on a change, and with it (same Origin) gets
  through;
- the console's pages: without a session a page GET goes to /login (303), a form POST is
  refused; every form POST needs the session's CSRF token; a read user's session may not change;
- /metrics, /healthz, /readyz, the OpenAPI document and the login form stay open; Faust's own
  pages are off; no token appears in an answer or in the log."""

from __future__ import annotations

import json
import re
import time
from typing import NamedTuple

import httpx
import pytest

from connectors import demo as scenario
from tests.integration.test_console_session import log_in
from tests.unit.test_openapi import registered, worker_app

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

WRITE = "write-" + "9f8e7d6c5b4a3f2e1d0c"
READ = "read-" + "0a1b2c3d4e5f6a7b8c9d"
INGEST = "ingest-" + "5e6f7a8b9c0d1e2f3a4b"  # a pusher's token: posting events only, elsewhere
SILENCE = {"matchers": ['app_id="kimi"'], "created_by": "ops", "comment": "known"}
USERS = [
    {"name": "ana", "password": "s3cret-ana", "scope": "write"},
    {"name": "rui", "password": "s3cret-rui", "scope": "read"},
]


class Route(NamedTuple):
    method: str
    path: str  # {silence_id}: a silence that exists; other ids need not exist
    scope: str  # read, write, open (no credentials needed), login (the login form's own CSRF)
    body: str = ""  # what it is sent: a key of bodies()

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")


ROUTES = [
    Route("GET", "/api/v1/alerts", "read"),
    Route("GET", "/api/v1/alerts/{alert_id}", "read"),
    Route("GET", "/api/v1/silences", "read"),
    Route("POST", "/api/v1/silences", "write", "silence"),
    Route("POST", "/api/v1/silences/{silence_id}/expire", "write"),
    Route("POST", "/api/v1/silences/preview", "read", "preview"),
    Route("GET", "/api/v1/rules", "read"),
    Route("POST", "/api/v1/rules/check", "read", "rules"),
    Route("POST", "/api/v1/rules/check?backtest=1h", "write", "rules"),
    Route("GET", "/api/v1/connectors", "read"),
    Route("GET", "/api/v1/market", "read"),
    Route("POST", "/api/v1/backtests", "write", "events"),
    Route("GET", "/api/v1/backtests/{job_id}", "read"),
    Route("GET", "/api/v1/backtests/{job_id}/report", "read"),
    Route("GET", "/api/v1/openapi.yaml", "open"),
    Route("GET", "/api/v1/openapi.json", "open"),
    Route("GET", "/api/v2/status", "read"),
    Route("GET", "/api/v2/alerts", "read"),
    Route("GET", "/api/v2/alerts/groups", "read"),
    Route("GET", "/api/v2/silences", "read"),
    Route("POST", "/api/v2/silences", "write", "am_silence"),
    Route("GET", "/api/v2/silence/{silence_id}", "read"),
    Route("DELETE", "/api/v2/silence/{silence_id}", "write"),
    Route("GET", "/alerts", "read"),
    Route("GET", "/alerts/{alert_id}", "read"),
    Route("GET", "/silences", "read"),
    Route("GET", "/silences/new", "write"),  # the form for a change
    Route("POST", "/silences", "write", "silence_form"),
    Route("POST", "/silences/preview", "read", "preview"),
    Route("POST", "/silences/{silence_id}/expire", "write", "form"),
    Route("GET", "/rules", "read"),
    Route("POST", "/rules/check", "read", "rules_form"),
    Route("POST", "/rules/check", "write", "rules_backtest_form"),
    Route("GET", "/connectors", "read"),
    Route("GET", "/market", "read"),
    Route("GET", "/backtest", "read"),
    Route("POST", "/backtest", "write", "upload"),
    Route("GET", "/backtest/{job_id}", "read"),
    Route("POST", "/logout", "read", "form"),
    Route("GET", "/", "open"),
    Route("GET", "/login", "open"),
    Route("POST", "/login", "login", "form"),
    Route("GET", "/static/{name}", "open"),
    Route("GET", "/metrics", "open"),
    Route("GET", "/healthz", "open"),
    Route("GET", "/readyz", "open"),
]
NOT_A_TOKEN = [
    None,
    "",
    "Bearer",
    f"Basic {WRITE}",
    f"Bearer {WRITE}x",
    f"Bearer {WRITE[:-1]}",
    f"bearer {WRITE}",
    f"Bearer  {WRITE}",
    f"Token {WRITE}",
    f"Bearer {READ.upper()}",
    "Bearer " + "x" * 5000,
]
RULES = b"rules:\n  - {name: big, kind: threshold, matchers: ['metric=\"downloads\"'], value: 1000000}\n"


def bodies(csrf: str) -> dict[str, dict]:
    """What each kind of route is sent (httpx's keyword arguments); ``csrf``: the form field."""
    events = b"\n".join(ev.to_json() for ev in list(scenario.events())[:20])
    ends = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    return {
        "": {},
        "silence": {"json": {**SILENCE, "ends_at": time.time() + 3600}},
        "preview": {"json": {"matchers": ['app_id="kimi"']}},
        "rules": {"content": RULES},
        "events": {"content": events},
        "am_silence": {
            "json": {
                "matchers": [{"name": "app_id", "value": "kimi", "isRegex": False}],
                "endsAt": ends,
                "createdBy": "ops",
                "comment": "known",
            }
        },
        "form": {"data": {"csrf_token": csrf}},
        "silence_form": {"data": {"csrf_token": csrf, "matchers": 'app_id="kimi"', "comment": "x", "duration": "1h"}},
        "rules_form": {"data": {"csrf_token": csrf, "action": "check", "rules": RULES.decode()}},
        "rules_backtest_form": {"data": {"csrf_token": csrf, "action": "backtest", "rules": RULES.decode()}},
        "upload": {"data": {"csrf_token": csrf}, "files": {"file": ("events.jsonl", events, "application/x-ndjson")}},
    }


def call(url: str, method: str, path: str, sid: str, authorization: str | None) -> httpx.Response:
    """``path`` with a bearer token (or ``authorization`` as the whole header), no cookie."""
    route = Route(method, path, "", "silence" if (method, path) == ("POST", "/api/v1/silences") else "")
    headers = {} if authorization is None else {"Authorization": authorization}
    return send(url, route, sid, headers=headers)


def send(url: str, route: Route, sid: str, csrf: str = "", **kwargs) -> httpx.Response:
    ids = {"silence_id": sid, "alert_id": "no-such-alert", "job_id": "no-such-job", "name": "console.js"}
    return httpx.request(route.method, url + route.path.format(**ids), timeout=10, **bodies(csrf)[route.body], **kwargs)


def test_the_table_names_every_route_the_worker_registers():
    """A route the app registers (``app.page``) and the table leaves out fails here."""
    table = {(r.method, r.path.split("?")[0]) for r in ROUTES}
    routes = registered(worker_app())
    assert sorted(routes - table) == [], "registered but not in ROUTES: give each its scope"
    assert sorted(table - routes) == [], "in ROUTES but not registered"


def worker(topics, start_worker):
    return start_worker(
        topics,
        APPWATCH_API_WRITE_TOKENS=WRITE,
        APPWATCH_API_READ_TOKENS=READ,
        APPWATCH_INGEST_TOKEN=INGEST,
        APPWATCH_CONSOLE_USERS=json.dumps(USERS),
        APPWATCH_CONSOLE_SECRET="k" * 32,
    )


def a_silence(url: str) -> str:
    created = call(url, "POST", "/api/v1/silences", "", f"Bearer {WRITE}")
    assert created.status_code == 201
    return created.json()["id"]


def passed(route: Route, r: httpx.Response) -> bool:
    """Let through: neither refused (401, 403, off to the login form) nor broken."""
    if route.path == "/logout":  # done: off to the login form, the cookie cleared
        return r.status_code == 303 and 'appwatch_session=""' in r.headers.get("set-cookie", "")
    return r.status_code not in (401, 403) and r.status_code < 500 and not to_login(r)


def to_login(r: httpx.Response) -> bool:
    return r.status_code == 303 and r.headers["location"].startswith("/login")


def test_every_api_route_needs_its_scope(topics, start_worker):
    w = worker(topics, start_worker)
    seen: list[httpx.Response] = []
    sid = a_silence(w.url)
    api = [r for r in ROUTES if r.api and r.scope != "open"]
    for route in api:
        for bad in NOT_A_TOKEN:
            r = send(w.url, route, sid, headers={} if bad is None else {"Authorization": bad})
            seen.append(r)
            assert r.status_code == 401, (route, bad, r.status_code)
            assert r.headers["www-authenticate"] == "Bearer"
        r = send(w.url, route, sid, headers={"Authorization": f"Bearer {READ}"})
        seen.append(r)
        assert passed(route, r) if route.scope == "read" else r.status_code == 403, (route, r.status_code, r.text)
        r = send(w.url, route, sid, headers={"Authorization": f"Bearer {INGEST}"})  # known, but may not do this
        seen.append(r)
        assert r.status_code == 403 and "www-authenticate" not in r.headers, (route, r.status_code)
        r = send(w.url, route, sid, headers={"Authorization": f"Bearer {WRITE}"})
        seen.append(r)
        assert passed(route, r), (route, r.status_code, r.text)
    for route in (r for r in ROUTES if r.scope == "open"):  # probes, Prometheus, the document, the login form
        r = send(w.url, route, sid)
        seen.append(r)
        assert r.status_code in (200, 303, 503) and not to_login(r), (route, r.status_code)
    for path in ("/table/groups/", "/router/", "/stats/"):  # Faust's pages would show the tables
        r = httpx.get(w.url + path, timeout=10)
        seen.append(r)
        assert r.status_code == 404, path
    shown = "".join(r.text + str(r.headers) for r in seen)
    log = w.log.read_text()
    for token in (WRITE, READ, INGEST):
        assert token not in shown and token not in log


class Session(NamedTuple):
    cookies: dict[str, str]
    csrf: str


def session(url: str, name: str) -> Session:
    c = log_in(url, name, next(u["password"] for u in USERS if u["name"] == name))
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', c.get("/alerts").text).group(1)
    return Session({"appwatch_session": c.cookies["appwatch_session"]}, csrf)


def test_every_route_refuses_without_a_session_and_checks_scope_and_csrf_with_one(topics, start_worker):
    w = worker(topics, start_worker)
    sid = a_silence(w.url)
    ana, rui = session(w.url, "ana"), session(w.url, "rui")  # write, read
    same_origin = {"Origin": w.url}
    for route in ROUTES:
        nothing = send(w.url, route, sid)
        if route.scope == "open":
            assert passed(route, nothing), (route, nothing.status_code)
            continue
        if route.scope == "login":  # the login form's own CSRF token (test_console_session)
            assert nothing.status_code == 403 and "appwatch_session" not in nothing.headers.get("set-cookie", "")
            continue
        if route.api:
            assert nothing.status_code == 401, (route, nothing.status_code)
        elif route.method == "GET":
            assert to_login(nothing), (route, nothing.status_code)
        else:
            assert nothing.status_code == 401 or to_login(nothing), (route, nothing.status_code)
        if not route.api and route.scope == "write":  # a page that changes, with a read token
            token = send(w.url, route, sid, headers={"Authorization": f"Bearer {READ}"})
            assert token.status_code in (401, 403) or to_login(token), (route, token.status_code)

        headers = {"X-CSRF-Token": rui.csrf, **same_origin}
        reader = send(w.url, route, sid, rui.csrf, cookies=rui.cookies, headers=headers)
        assert passed(route, reader) if route.scope == "read" else reader.status_code == 403, (
            route,
            reader.status_code,
        )

        if route.method != "GET":
            no_csrf = send(w.url, route, sid, cookies=ana.cookies, headers=same_origin)
            if route.scope == "write" or not route.api:
                assert no_csrf.status_code == 403, (route, no_csrf.status_code)
            else:  # an API read (a check, a preview) changes nothing: no CSRF token needed
                assert passed(route, no_csrf), (route, no_csrf.status_code)
            cross = send(
                w.url,
                route,
                sid,
                ana.csrf,
                cookies=ana.cookies,
                headers={"X-CSRF-Token": ana.csrf, "Origin": "http://evil.test"},
            )
            if route.scope == "write" or not route.api:
                assert cross.status_code == 403, (route, "another origin", cross.status_code)

        writer = send(
            w.url, route, sid, ana.csrf, cookies=ana.cookies, headers={"X-CSRF-Token": ana.csrf, **same_origin}
        )
        assert passed(route, writer), (route, writer.status_code, writer.text[:300])


def test_anonymous_read_is_off_unless_turned_on_and_never_opens_writing(topics, start_worker):
    closed = start_worker(topics, APPWATCH_WEBHOOK_URL="http://127.0.0.1:9/hook")  # no tokens, no secret
    assert closed.log.read_text().count("webhooks sent unsigned") == 1  # said once, at start-up
    assert call(closed.url, "GET", "/api/v1/silences", "", None).status_code == 401
    assert call(closed.url, "POST", "/api/v1/silences", "", None).status_code == 401
    opened = start_worker(
        topics,
        APPWATCH_API_ANONYMOUS_READ="true",
        APPWATCH_API_READ_TOKENS=READ,
        APPWATCH_GROUP=f"g-{topics.prefix.rstrip('.')}-anon",
    )
    assert call(opened.url, "GET", "/api/v1/silences", "", None).status_code == 200
    assert call(opened.url, "POST", "/api/v1/silences", "", None).status_code == 401
    assert call(opened.url, "POST", "/api/v1/silences", "", f"Bearer {READ}").status_code == 403
    assert call(opened.url, "POST", "/api/v1/silences/x/expire", "", None).status_code == 401
