"""The alerts and silences pages (appwatch/console/alerts.py) on aiohttp's test server with
the real API parts over plain dicts: what each page shows, the fragment, the forms, and
who may do what (no session, no CSRF token, read scope)."""

from __future__ import annotations

import asyncio
import re
from types import SimpleNamespace

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

import appwatch.worker  # noqa: F401  first: importing appwatch.console first is a circular import

# isort: split
from alerts.config import AlertsConfig
from alerts.metrics import DeliveryMetrics
from alerts.pipeline import Pipeline
from alerts.silence import Silence
from appwatch.console import Console
from appwatch.console.alerts import Pages, check_lines, duration_of, prefill
from appwatch.console.session import COOKIE, Sessions
from appwatch.worker.alerts_api import AlertsApi
from appwatch.worker.amapi import AmApi
from appwatch.worker.api import Api
from appwatch.worker.silences import Silences
from core import yamlfile
from core.alert import Alert, alert_id
from core.auth import ConsoleUser, Tokens

CONFIG = "route: {receiver: all}\nreceivers: [{name: all}]\n"
USERS = [ConsoleUser(name="ana", password="pw-ana-123", scope="write"), ConsoleUser(name="rui", password="pw-rui-123")]


def spike(app: str, trend: bool = True) -> Alert:
    labels = {"app_id": app, "platform": "all", "country": "cn", "metric": "downloads"}
    chart = dict(trend=[["2024-11-13", 800_000.0], ["2024-11-14", 2_400_000.0]], threshold=1_600_000.0) if trend else {}
    return Alert(
        alert_id=alert_id("download-spike", labels, app),
        rule="download-spike",
        kind="spike" if trend else "rank",
        labels=labels,
        value=2_400_000.0,
        baseline=800_000.0,
        window_start="2024-11-14T00:00:00+08:00",
        event_ts="2024-11-14T00:00:00+08:00",
        summary=f"{app} spiked",
        context=[{"title": "ByteDance hires", "url": "https://example.com/n", "ts": "2024-11-13T00:00:00+08:00"}],
        **chart,
    )


def parts() -> SimpleNamespace:
    p = Pipeline(yamlfile.parse(CONFIG, AlertsConfig), {}, DeliveryMetrics(CollectorRegistry()))
    for a in (spike("doubao"), spike("kimi", trend=False)):
        p.firing[a.alert_id] = p.firing_entry(a)
    store = Silences()

    async def send(s: Silence) -> None:
        store.apply(s.id.encode(), s.to_json(), 0)

    store.send = send
    tokens = Tokens()
    ns = SimpleNamespace(firing=p.firing, silences=store, pipeline=p, worker="w1:6066")
    ns.detect = SimpleNamespace(
        engine=SimpleNamespace(rules=[]), stage=SimpleNamespace(stage=SimpleNamespace(state={}))
    )
    ns.alerts, ns.api = AlertsApi(tokens, ns), Api(tokens, store)
    ns.amapi = AmApi(tokens, store, p.firing, p.config, started=0.0)
    return ns


def run(test) -> None:
    """``test(client, login, parts)`` against the pages on a test server."""

    async def main():
        sessions, ns = Sessions(USERS, "k" * 32), parts()
        console = Console(sessions, ns)
        pages = Pages(console)
        app = web.Application(middlewares=[console.middleware()])
        app.router.add_get("/alerts", pages.alerts)
        app.router.add_get("/alerts/{alert_id}", lambda r: pages.alert(r, r.match_info["alert_id"]))
        app.router.add_get("/silences", pages.silences)
        app.router.add_post("/silences", pages.create)
        app.router.add_get("/silences/new", pages.new_silence)
        app.router.add_post("/silences/preview", pages.preview)
        app.router.add_post("/silences/{sid}/expire", lambda r: pages.expire(r, r.match_info["sid"]))
        async with TestClient(TestServer(app)) as client:

            def login(name: str, password: str) -> tuple[dict, str]:
                value = sessions.login(name, password)
                return {COOKIE: value}, sessions.load(value).csrf

            await test(client, login, ns)

    asyncio.run(main())


def rows(html: str) -> list[str]:
    return re.findall(r'data-alert-id="([0-9a-f]+)" data-rule="download-spike" data-app="(\w+)"', html)


def test_pages_need_a_session_and_posts_a_csrf_token():
    async def test(client, login, ns):
        r = await client.get("/alerts", allow_redirects=False)
        assert r.status == 303 and r.headers["Location"].startswith("/login?next=")
        assert (await client.get("/alerts", headers={"X-Fragment": "1"})).status == 401
        assert (await client.post("/silences", data={"matchers": "a=b"})).status == 401
        assert (await client.post("/silences/preview", json={"matchers": "a=b"})).status == 401
        ana, csrf = login("ana", "pw-ana-123")
        form = {"matchers": 'app_id="doubao"', "comment": "x", "duration": "1h"}
        assert (await client.post("/silences", data=form, cookies=ana)).status == 403
        r = await client.post("/silences/preview", json={"matchers": 'app_id="doubao"'}, cookies=ana)
        assert r.status == 403 and "CSRF" in await r.text()
        assert (await client.post("/silences/x/expire", data={"csrf_token": "no"}, cookies=ana)).status == 403
        rui, rui_csrf = login("rui", "pw-rui-123")
        r = await client.post("/silences", data={**form, "csrf_token": rui_csrf}, cookies=rui, allow_redirects=False)
        assert r.status == 403 and ns.silences.by_id == {}
        assert (await client.get("/silences/new", cookies=rui)).status == 403

    run(test)


def test_the_alerts_page_its_fragment_filters_and_an_alert():
    async def test(client, login, ns):
        ana, _ = login("ana", "pw-ana-123")
        page = await (await client.get("/alerts", cookies=ana)).text()
        assert sorted(app for _, app in rows(page)) == ["doubao", "kimi"]
        assert 'data-refresh="5"' in page and 'name="state" value="resolved"' in page
        part = await (await client.get("/alerts", headers={"X-Fragment": "1"}, cookies=ana)).text()
        assert "<html" not in part and len(rows(part)) == 2
        only = await (await client.get("/alerts", params={"filter": 'app_id="kimi"'}, cookies=ana)).text()
        assert [app for _, app in rows(only)] == ["kimi"]
        bad = await client.get("/alerts", params={"filter": 'app_id=="x'}, cookies=ana)
        assert bad.status == 400 and "bad filter" in await bad.text()
        by_app = await (await client.get("/alerts", params={"group_by": "app_id"}, cookies=ana)).text()
        assert re.findall(r'data-group="([^"]+)"', by_app) == ["app_id=doubao", "app_id=kimi"]

        (doubao,) = [aid for aid, app in rows(page) if app == "doubao"]
        detail = await (await client.get(f"/alerts/{doubao}", cookies=ana)).text()
        assert detail.count('class="bar') == 2 and 'class="bar hot"' in detail and 'class="baseline"' in detail
        assert "ByteDance hires" in detail and f"/silences/new?alert={doubao}" in detail
        (kimi,) = [aid for aid, app in rows(page) if app == "kimi"]
        assert 'id="no-series"' in await (await client.get(f"/alerts/{kimi}", cookies=ana)).text()
        assert (await client.get("/alerts/nope", cookies=ana)).status == 404
        rui, _ = login("rui", "pw-rui-123")
        assert "/silences/new" not in await (await client.get(f"/alerts/{doubao}", cookies=rui)).text()

    run(test)


def test_a_silence_from_an_alert_previewed_created_listed_and_expired():
    async def test(client, login, ns):
        ana, csrf = login("ana", "pw-ana-123")
        (doubao,) = [a for a, f in ns.firing.items() if f["labels"]["app_id"] == "doubao"]
        form = await (await client.get("/silences/new", params={"alert": doubao}, cookies=ana)).text()
        text = re.search(r'<textarea name="matchers"[^>]*>(.*?)</textarea>', form, re.S).group(1).replace("&#34;", '"')
        assert 'app_id="doubao"' in text.splitlines() and "alert_id" not in text
        head = {"X-CSRF-Token": csrf}
        seen = await client.post("/silences/preview", json={"matchers": text}, headers=head, cookies=ana)
        assert seen.status == 200 and f'data-alert-id="{doubao}"' in await seen.text()
        bad = await client.post("/silences/preview", json={"matchers": 'a="b"\n\n=x'}, headers=head, cookies=ana)
        assert bad.status == 400 and "line 3" in await bad.text()
        fields = {"matchers": text, "comment": "launch", "csrf_token": csrf}
        wrong = await client.post("/silences", data={**fields, "duration": "soon"}, cookies=ana)
        assert wrong.status == 400 and "duration" in await wrong.text()
        made = await client.post("/silences", data={**fields, "duration": "30m"}, cookies=ana, allow_redirects=False)
        assert made.status == 303 and made.headers["Location"] == "/silences"
        (s,) = ns.silences.by_id.values()
        assert s.created_by == "ana" and round(s.ends_at - s.starts_at) == 1800
        listed = await (await client.get("/silences", cookies=ana)).text()
        assert f'data-silence-id="{s.id}" data-state="active"' in listed and f"/silences/{s.id}/expire" in listed
        muted = await (await client.get("/alerts", params={"state": "silenced"}, cookies=ana)).text()
        assert [app for _, app in rows(muted)] == ["doubao"]
        out = await client.post(
            f"/silences/{s.id}/expire", data={"csrf_token": csrf}, cookies=ana, allow_redirects=False
        )
        assert out.status == 303 and not ns.silences.by_id[s.id].active(s.starts_at + 1e9)
        listed = await (await client.get("/silences", cookies=ana)).text()
        assert f'data-silence-id="{s.id}" data-state="expired"' in listed

    run(test)


@pytest.mark.parametrize("text,seconds", [("30m", 1800), ("2h", 7200), ("1d", 86400), (" 90s ", 90)])
def test_durations(text, seconds):
    assert duration_of(text) == seconds


@pytest.mark.parametrize("text", ["soon", "0h", "-1h", "2 hours"])
def test_bad_durations_name_the_field(text):
    with pytest.raises(ValueError, match="duration"):
        duration_of(text)


def test_matcher_lines_and_prefill():
    assert check_lines([]).startswith("matchers")
    assert check_lines(['a="b"', 'c=~"d.*"']) is None
    assert "line 2" in check_lines(['a="b"', "=x"])
    labels = {"app_id": "doubao", "alertname": "download-spike", "alert_id": "x", "rule": "download-spike"}
    assert prefill({"labels": labels}).splitlines() == ['app_id="doubao"', 'alertname="download-spike"']
    assert prefill(None) == ""
