"""The alerts and silences pages against a running worker: a spike shows on /alerts, its
detail page draws the series with its baseline, a silence made from it through the forms
(previewed first) mutes it and is listed, then expired; CSRF and scopes are enforced. The
alerts API answers the same alert with its chart fields, filters and groups."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.conftest import wait_until
from tests.integration.test_console_session import form_token
from tests.integration.test_pipeline import publish_spike

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

USERS = [
    {"name": "ana", "password": "pw-ana-123", "scope": "write"},
    {"name": "rui", "password": "pw-rui-123", "scope": "read"},
]
READ = "read-token-0123456789abcdef"


def log_in(url: str, name: str, password: str) -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=10)
    page = c.get("/login")
    r = c.post("/login", data={"username": name, "password": password, "csrf_token": form_token(page.text)})
    assert r.status_code == 303, r.text
    return c


def meta_csrf(html: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)


def row_ids(html: str, app: str) -> list[str]:
    return re.findall(rf'data-alert-id="([0-9a-f]+)" data-rule="download-spike" data-app="{app}"', html)


@pytest.fixture
def worker(broker, topics, start_worker):
    w = start_worker(
        topics,
        APPWATCH_CONSOLE_USERS=json.dumps(USERS),
        APPWATCH_CONSOLE_SECRET="s" * 32,
        APPWATCH_API_READ_TOKENS=READ,
    )
    publish_spike(broker, topics, "doubao", 800_000)
    return w


def test_a_spike_on_the_alerts_page_its_chart_and_a_silence_made_from_it(worker):
    anon = httpx.Client(base_url=worker.url, timeout=10)
    assert anon.get("/alerts").status_code == 303
    assert anon.get("/alerts", headers={"X-Fragment": "1"}).status_code == 401
    assert anon.post("/silences/preview", json={"matchers": 'app_id="doubao"'}).status_code == 401
    ana = log_in(worker.url, "ana", "pw-ana-123")
    found = wait_until(lambda: row_ids(ana.get("/alerts").text, "doubao"), 60, "the spike on /alerts")
    (aid,) = found
    page = ana.get("/alerts")
    assert 'data-refresh="5"' in page.text and 'name="filter"' in page.text
    part = ana.get("/alerts", headers={"X-Fragment": "1"})
    assert part.status_code == 200 and "<html" not in part.text and row_ids(part.text, "doubao") == [aid]
    assert row_ids(ana.get("/alerts", params={"filter": 'app_id="kimi"'}).text, "doubao") == []

    detail = ana.get(f"/alerts/{aid}")
    assert detail.status_code == 200
    svg = re.search(r"<svg.*?</svg>", detail.text, re.S).group(0)
    assert svg.count('class="bar') == 8 and 'class="bar hot"' in svg
    assert 'class="baseline"' in svg and 'class="threshold"' in svg
    assert f'href="/silences/new?alert={aid}"' in detail.text
    assert ana.get("/alerts/0123456789abcdef").status_code == 404

    form = ana.get("/silences/new", params={"alert": aid})
    assert form.status_code == 200 and 'data-preview="/silences/preview"' in form.text
    matchers = re.search(r'<textarea name="matchers"[^>]*>(.*?)</textarea>', form.text, re.S).group(1)
    assert "app_id=&#34;doubao&#34;" in matchers and "alert_id" not in matchers
    lines = matchers.replace("&#34;", '"')
    csrf = meta_csrf(form.text)
    preview = ana.post("/silences/preview", json={"matchers": lines}, headers={"X-CSRF-Token": csrf})
    assert preview.status_code == 200 and f'data-alert-id="{aid}"' in preview.text
    bad = ana.post(
        "/silences/preview", json={"matchers": 'app_id="doubao"\napp_id=="x'}, headers={"X-CSRF-Token": csrf}
    )
    assert bad.status_code == 400 and "line 2" in bad.text
    assert ana.post("/silences/preview", json={"matchers": lines}).status_code == 403  # no CSRF header

    fields = {"matchers": lines, "comment": "launch day", "duration": "2h", "alert": aid}
    assert ana.post("/silences", data=fields).status_code == 403  # no csrf_token
    made = ana.post("/silences", data={**fields, "csrf_token": form_token(form.text)})
    assert made.status_code == 303 and made.headers["location"] == "/silences", made.text
    listed = wait_until(lambda: "launch day" in (t := ana.get("/silences").text) and t, 30, "the silence listed")
    (sid,) = re.findall(r'data-silence-id="([^"]+)" data-state="active"', listed)
    assert ">ana<" in listed
    wait_until(lambda: sid in ana.get(f"/alerts/{aid}").text, 30, "the alert says what mutes it")
    muted = ana.get("/alerts", params={"state": "silenced"}).text
    assert row_ids(muted, "doubao") == [aid] and 'data-status="silenced"' in muted

    assert ana.post(f"/silences/{sid}/expire", data={"csrf_token": "wrong"}).status_code == 403
    gone = ana.post(f"/silences/{sid}/expire", data={"csrf_token": form_token(listed)})
    assert gone.status_code == 303
    wait_until(
        lambda: re.search(rf'data-silence-id="{sid}" data-state="expired"', ana.get("/silences").text), 30, "expired"
    )

    rui = log_in(worker.url, "rui", "pw-rui-123")
    rui_page = rui.get("/silences/new", params={"alert": aid})
    assert rui_page.status_code == 403
    rui_csrf = meta_csrf(rui.get("/alerts").text)
    assert rui.post("/silences", data={**fields, "csrf_token": rui_csrf}).status_code == 403
    assert "Silence…" not in rui.get(f"/alerts/{aid}").text
    assert httpx.post(worker.url + "/silences", data=fields).status_code == 401


def test_the_alerts_api_gives_the_chart_fields_filters_and_groups(worker):
    api = httpx.Client(base_url=worker.url, timeout=10, headers={"Authorization": f"Bearer {READ}"})
    assert httpx.get(worker.url + "/api/v1/alerts").status_code == 401

    def doubao():
        body = api.get("/api/v1/alerts", params={"filter": 'app_id="doubao"'}).json()
        return [a for g in body["groups"] for a in g["alerts"]]

    (alert,) = wait_until(doubao, 60, "the spike in /api/v1/alerts")
    assert alert["state"] == "firing" and alert["baseline"] == 800_000 and alert["value"] == 2_400_000
    assert alert["threshold"] == 1_600_000  # the default spike rule: 2x the baseline
    assert [d for d, _ in alert["trend"]][-1] == "2024-11-08" and len(alert["trend"]) == 8
    assert alert["links"]["console"] == f"/alerts/{alert['alert_id']}"
    assert api.get(alert["links"]["self"]).json()["alert_id"] == alert["alert_id"]
    assert api.get("/api/v1/alerts/nope").status_code == 404

    grouped = api.get("/api/v1/alerts", params={"group_by": "app_id,country"}).json()
    assert {"labels": {"app_id": "doubao", "country": "cn"}} in [{"labels": g["labels"]} for g in grouped["groups"]]
    none = api.get("/api/v1/alerts", params=[("filter", 'app_id="doubao"'), ("state", "resolved")]).json()
    assert none == {"groups": [], "total": 0}
    bad = api.get("/api/v1/alerts", params={"filter": 'app_id=="x'})
    assert bad.status_code == 400 and "bad filter" in bad.json()["error"]


def test_two_workers_list_the_spike_once_each(broker, topics, start_worker):
    env = dict(APPWATCH_API_READ_TOKENS=READ)
    workers = [start_worker(topics, **env), start_worker(topics, **env)]
    publish_spike(broker, topics, "doubao", 800_000)
    publish_spike(broker, topics, "kimi", 250_000)
    head = {"Authorization": f"Bearer {READ}"}

    def listed(w) -> list[str]:
        body = httpx.get(w.url + "/api/v1/alerts", params={"group_by": ""}, headers=head, timeout=10).json()
        return sorted(a["labels"]["app_id"] for g in body["groups"] for a in g["alerts"])

    for w in workers:
        wait_until(lambda w=w: listed(w) == ["doubao", "kimi"], 60, f"both spikes, once each, on {w.url}")
