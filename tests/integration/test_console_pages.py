"""The rules, connectors, market and backtest pages against a running worker: signed in with
a session, each page answers with its content; uploads as CSV and multipart (with edited
rules) follow to done; an edited rules file is checked with line numbers, and backtested
over the events the broker holds from the last 24h."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from streams import rules
from tests.conftest import wait_until
from tests.integration.test_console_session import form_token, log_in
from tests.integration.test_pipeline import publish_spike

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DATA = Path(__file__).parents[1] / "data"
USERS = [{"name": "ana", "password": "pw-ana-123", "scope": "write"}, {"name": "rui", "password": "pw-rui-123"}]
BAD_RULES = "rules:\n  - name: too-eager\n    kind: spike\n    match: {metric: downloads}\n    params: {ratio: -2}\n"


def csrf_of(c: httpx.Client, path: str = "/backtest") -> str:
    return form_token(c.get(path).text)


def follow(c: httpx.Client, location: str) -> dict:
    job_id = re.fullmatch(r"/backtest/([0-9a-f]+)", location).group(1)

    def done():
        s = c.get(f"/api/v1/backtests/{job_id}").json()
        return s if s["state"] != "running" else None

    status = wait_until(done, 60, f"backtest {job_id} done")
    assert status["state"] == "done" and status["done"] == status["total"] > 0, status
    return status


def test_pages_uploads_checks_and_a_backtest_over_recent_history(broker, topics, start_worker):
    publish_spike(broker, topics, "doubao", 800_000)  # seven flat days, then 3x
    users = json.dumps([{**u, "scope": u.get("scope", "read")} for u in USERS])
    w = start_worker(topics, APPWATCH_CONSOLE_USERS=users, APPWATCH_CONSOLE_SECRET="s" * 32)
    ana = log_in(w.url, "ana", "pw-ana-123")

    def spike_evaluated():
        got = {r["name"]: r for r in ana.get("/api/v1/rules").json()}
        return got["download-spike"]["last_evaluation"]

    wait_until(spike_evaluated, 30, "download-spike evaluated")
    page = ana.get("/rules")
    assert page.status_code == 200 and 'data-rule="download-spike"' in page.text
    assert "&lt;default default.yaml&gt;:" in page.text and "UTC" in page.text  # file:line, last evaluation
    connectors = ana.get("/connectors")
    assert connectors.status_code == 200 and "No connector has reported yet" in connectors.text
    market = ana.get("/market")
    assert market.status_code == 200 and 'data-app="doubao"' in market.text
    assert 'class="bar hot"' in market.text  # the 3x day drawn red
    us = ana.get("/market", params={"country": "us"})  # one market: Doubao has no US series here
    assert us.status_code == 200 and 'class="bar hot"' not in us.text
    assert '<a href="?country=cn">cn</a>' in us.text and 'aria-label="Market"' in us.text
    bad = ana.get("/market", params={"country": "USA"})
    assert bad.status_code == 400 and "Bad request" in bad.text and "two lower-case letters" in bad.text
    assert 'name="file"' in ana.get("/backtest").text

    # the console's upload form: a CSV file
    csv_body = (DATA / "backtest-doubao.csv").read_bytes()
    up = ana.post("/backtest", data={"csrf_token": csrf_of(ana)}, files={"file": ("doubao.csv", csv_body)})
    assert up.status_code == 303, up.text
    status = follow(ana, up.headers["location"])
    assert "download-spike" in {a["rule"] for a in status["alerts"]} and status["errors"] == []
    done = ana.get(up.headers["location"])
    assert 'data-state="done"' in done.text and done.text.count("data-alert-id=") == len(status["alerts"])
    assert f"/api/v1/backtests/{status['id']}/report" in done.text

    # the API with the session: text/csv, and multipart with edited rules (bad, then good)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', done.text).group(1)
    api = ana.post("/api/v1/backtests", content=csv_body, headers={"Content-Type": "text/csv", "X-CSRF-Token": token})
    assert api.status_code == 202 and follow(ana, f"/backtest/{api.json()['id']}")["events"] == 110
    jsonl = ("events.jsonl", (DATA / "backtest-doubao.jsonl").read_bytes())
    bad = ana.post("/backtest", data={"csrf_token": token, "rules": BAD_RULES}, files={"file": jsonl})
    assert bad.status_code == 400 and "&lt;posted rules&gt;:5:" in bad.text
    assert ana.post("/backtest", files={"file": jsonl}).status_code == 403  # no CSRF token

    # the rules page's form: check, then backtest the shipped pack over the last 24h
    checked = ana.post("/rules/check", data={"csrf_token": token, "rules": BAD_RULES, "action": "check"})
    assert checked.status_code == 400 and 'data-check="invalid"' in checked.text
    assert "&lt;posted rules&gt;:5:" in checked.text and "ratio" in checked.text
    assert ana.post("/rules/check", data={"rules": BAD_RULES, "action": "check"}).status_code == 403
    pack = rules.source(None)[0]
    recent = ana.post("/rules/check", data={"csrf_token": token, "rules": pack, "action": "backtest"})
    assert recent.status_code == 303, recent.text
    status = follow(ana, recent.headers["location"])
    spikes = [a for a in status["alerts"] if a["rule"] == "download-spike"]
    assert [a["labels"]["app_id"] for a in spikes] == ["doubao"] and status["total"] == 8

    # a read user may look, not start
    rui = log_in(w.url, "rui", "pw-rui-123")
    assert rui.get("/backtest").status_code == 200
    refused = rui.post("/backtest", data={"csrf_token": csrf_of(rui)}, files={"file": jsonl})
    assert refused.status_code == 403
    anon = httpx.get(f"{w.url}/market", timeout=5)
    assert anon.status_code == 303 and anon.headers["location"].startswith("/login")
