"""The console's login: a form with its own CSRF token sets an HttpOnly, SameSite=Strict
session cookie; that cookie then works on the API routes as a token would, and every
change made with it needs the session's CSRF token and this origin."""

from __future__ import annotations

import json
import re
import time

import bcrypt
import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

USERS = [
    {"name": "ana", "password": bcrypt.hashpw(b"s3cret-ana", bcrypt.gensalt(4)).decode(), "scope": "write"},
    {"name": "rui", "password": "s3cret-rui", "scope": "read"},
]
SILENCE = {"matchers": ['app_id="kimi"'], "created_by": "ana", "comment": "known", "ends_at": time.time() + 3600}


def form_token(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]*)"', html).group(1)


def log_in(url: str, name: str, password: str) -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=10)
    page = c.get("/login")
    r = c.post("/login", data={"username": name, "password": password, "csrf_token": form_token(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/alerts", r.text
    return c


def test_login_sets_a_strict_httponly_cookie_and_the_cookie_works_on_the_api(topics, start_worker):
    w = start_worker(topics, APPWATCH_CONSOLE_USERS=json.dumps(USERS), APPWATCH_CONSOLE_SECRET="k" * 32)
    anon = httpx.Client(base_url=w.url, timeout=10)
    r = anon.get("/alerts")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Falerts"
    assert anon.get("/api/v1/silences").status_code == 401

    page = anon.get("/login")
    token = form_token(page.text)
    assert "HttpOnly" in page.headers["set-cookie"] and "SameSite=Strict" in page.headers["set-cookie"]
    wrong = anon.post("/login", data={"username": "ana", "password": "nope", "csrf_token": token})
    assert wrong.status_code == 401 and "Wrong name or password" in wrong.text
    assert "appwatch_session" not in wrong.headers.get("set-cookie", "")
    forged = httpx.post(w.url + "/login", data={"username": "ana", "password": "s3cret-ana", "csrf_token": "x"})
    assert forged.status_code == 403 and "appwatch_session" not in forged.headers.get("set-cookie", "")

    ana = log_in(w.url, "ana", "s3cret-ana")
    cookie = next(v for k, v in ana.cookies.items() if k == "appwatch_session")
    assert cookie
    alerts = ana.get("/alerts")
    assert alerts.status_code == 200 and "ana" in alerts.text
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', alerts.text).group(1)

    assert ana.get("/api/v1/silences").status_code == 200
    no_csrf = ana.post("/api/v1/silences", json=SILENCE)
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["error"]
    cross = ana.post("/api/v1/silences", json=SILENCE, headers={"X-CSRF-Token": csrf, "Origin": "http://evil.test"})
    assert cross.status_code == 403
    made = ana.post("/api/v1/silences", json=SILENCE, headers={"X-CSRF-Token": csrf, "Origin": w.url})
    assert made.status_code == 201, made.text

    rui = log_in(w.url, "rui", "s3cret-rui")
    rui_csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', rui.get("/alerts").text).group(1)
    assert rui.get("/api/v1/silences").status_code == 200
    assert rui.post("/api/v1/silences", json=SILENCE, headers={"X-CSRF-Token": rui_csrf}).status_code == 403

    tampered = httpx.get(w.url + "/api/v1/silences", cookies={"appwatch_session": cookie[:-2] + "xx"})
    assert tampered.status_code == 401

    assert ana.post("/logout", data={"csrf_token": "wrong"}).status_code == 403
    out = ana.post("/logout", data={"csrf_token": csrf})
    assert out.status_code == 303 and 'appwatch_session=""' in out.headers["set-cookie"]
    assert ana.get("/api/v1/silences").status_code == 401
