"""Every route of the worker's HTTP API asks for a scope (core.auth): 401 without a known
bearer token, 403 with a read token where writing is needed; /metrics, /healthz and /readyz
stay open; Faust's own pages are off; no token appears in an answer or in the log."""

from __future__ import annotations

import time

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

WRITE = "write-" + "9f8e7d6c5b4a3f2e1d0c"
READ = "read-" + "0a1b2c3d4e5f6a7b8c9d"
INGEST = "ingest-" + "5e6f7a8b9c0d1e2f3a4b"  # a pusher's token: posting events only, elsewhere
SILENCE = {"matchers": ['app_id="kimi"'], "created_by": "ops", "comment": "known"}
# (method, path, scope it needs); {id} is a silence that exists
ROUTES = [
    ("GET", "/api/v1/silences", "read"),
    ("POST", "/api/v1/silences", "write"),
    ("POST", "/api/v1/silences/{id}/expire", "write"),
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


def call(url: str, method: str, path: str, sid: str, authorization: str | None) -> httpx.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    body = {**SILENCE, "ends_at": time.time() + 3600} if path == "/api/v1/silences" and method == "POST" else None
    return httpx.request(method, url + path.format(id=sid), json=body, headers=headers, timeout=10)


def test_every_worker_route_needs_its_scope(topics, start_worker):
    w = start_worker(
        topics, APPWATCH_API_WRITE_TOKENS=WRITE, APPWATCH_API_READ_TOKENS=READ, APPWATCH_INGEST_TOKEN=INGEST
    )
    seen: list[httpx.Response] = []
    created = call(w.url, "POST", "/api/v1/silences", "", f"Bearer {WRITE}")
    assert created.status_code == 201
    sid = created.json()["id"]
    checked = 0
    for method, path, scope in ROUTES:
        for bad in NOT_A_TOKEN:
            r = call(w.url, method, path, sid, bad)
            seen.append(r)
            assert r.status_code == 401, (method, path, bad, r.status_code)
            assert r.headers["www-authenticate"] == "Bearer"
            checked += 1
        r = call(w.url, method, path, sid, f"Bearer {READ}")
        seen.append(r)
        assert r.status_code == (200 if scope == "read" else 403), (method, path, r.status_code)
        r = call(w.url, method, path, sid, f"Bearer {INGEST}")  # known, but may not do this
        seen.append(r)
        assert r.status_code == 403 and "www-authenticate" not in r.headers, (method, path, r.status_code)
        r = call(w.url, method, path, sid, f"Bearer {WRITE}")
        seen.append(r)
        assert r.status_code in (200, 201), (method, path, r.status_code)
        checked += 3
    assert checked == len(ROUTES) * (len(NOT_A_TOKEN) + 3)
    for path in ("/metrics", "/healthz", "/readyz"):  # open, for probes and Prometheus
        r = httpx.get(w.url + path, timeout=10)
        seen.append(r)
        assert r.status_code in (200, 503) and r.status_code != 401
    for path in ("/table/groups/", "/router/", "/stats/"):  # Faust's pages would show the tables
        r = httpx.get(w.url + path, timeout=10)
        seen.append(r)
        assert r.status_code == 404, path
    shown = "".join(r.text + str(r.headers) for r in seen)
    log = w.log.read_text()
    for token in (WRITE, READ, INGEST):
        assert token not in shown and token not in log


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
