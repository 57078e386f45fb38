"""The console in headless Chromium (Debian's, driven by Playwright), against `appwatch demo`
as a new user runs it: log in with the login the demo prints, see the Doubao spike, open
its chart, silence it from the alert, see Doubao's next spike muted (and the one after the
silence expired delivered), then upload a JSONL file to the backtest page. Every page is
saved as a screenshot in the test logs (``screenshots/``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from appwatch.broker import free_port
from connectors import demo as scenario
from connectors.publish import Publisher
from core.events import Topics
from tests.conftest import LOGS, Hooks, terminate, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DATA = Path(__file__).parent.parent / "data"
SHOTS = LOGS / "screenshots"
DOUBAO = scenario.APPS[0]


class Demo:
    """`appwatch demo` as a child process; its printed lines, read as they come."""

    def __init__(self, hooks: Hooks) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "APPWATCH_WEB_PORT": str(self.port),
            "APPWATCH_WEBHOOK_SECRET": hooks.secret,
            "APPWATCH_ALLOW_HOSTS": "127.0.0.1,localhost",
            "COLUMNS": "200",
        }
        env.pop("APPWATCH_CONSOLE_USERS", None)
        cmd = [sys.executable, "-m", "appwatch", "demo", "--live-seconds", "4", "--duration", "900"]
        self.proc = subprocess.Popen(
            [*cmd, "--webhook-url", hooks.url], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        log = (LOGS / "demo-browser.log").open("w")
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            log.write(line + "\n")
            log.flush()

    def printed(self, pattern: str, what: str) -> re.Match:
        found: list[re.Match] = []

        def seen():
            assert self.proc.poll() is None, "the demo exited:\n" + "\n".join(self.lines[-30:])
            found[:] = [m for line in list(self.lines) if (m := re.search(pattern, line))]
            return found

        wait_until(seen, 90, what)
        return found[0]

    def metric(self, name: str) -> float:
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text
        return sum(float(v) for n, v in re.findall(r"^(\w+)(?:\{[^}]*\})? (\S+)$", text, re.M) if n == name)


@pytest.fixture
def demo(hooks):
    d = Demo(hooks)
    yield d
    terminate(d.proc, timeout=20)


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        pg = context.new_page()
        pg.set_default_timeout(20_000)
        yield pg
        context.close()
        browser.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def doubao_days(hooks: Hooks) -> list[str]:
    """The windows of the Doubao spike alerts the receiver got (signature verified)."""
    return [
        p["data"]["window_start"][:10]
        for _, p in hooks.verified()
        if p["data"]["labels"].get("app_id") == "doubao" and p["data"]["rule"] == "download-spike"
    ]


def spike(broker: str, day, total: float) -> None:
    """Doubao's total for ``day``, far above its baseline, so the spike rule fires, and
    the other CN apps' usual totals: its market's day is complete, so it is judged at once."""
    others = [a for a in scenario.APPS if a.country == "cn" and a is not DOUBAO]
    events = [scenario._metric(DOUBAO, day, "downloads", total)]
    events += [scenario._metric(a, day, "downloads", a.daily) for a in others]
    with Publisher(broker, Topics("appwatch.")) as pub:
        pub.send_all(events)
        pub.flush()


def test_log_in_see_the_spike_silence_it_from_the_alert_expire_it_and_backtest(demo, hooks, page):
    from playwright.sync_api import expect

    m = demo.printed(r"console (http://\S+)/\s+login demo / (\S+)", "the console's URL and login")
    url, password = m.group(1), m.group(2)
    broker = demo.printed(r"broker (127\.0\.0\.1:\d+)", "the broker").group(1)

    page.goto(url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", password)
    shot(page, "login")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/alerts"))

    # the live day's Doubao spike: the page refreshes by itself until it shows
    row = page.locator('[data-app="doubao"][data-rule="download-spike"]').first
    expect(row).to_be_visible(timeout=90_000)
    wait_until(lambda: scenario.LIVE_DAY.isoformat() in doubao_days(hooks), 60, "the spike at the webhook")
    shot(page, "alerts")

    row.locator("a").first.click()
    expect(page).to_have_url(re.compile(r"/alerts/[0-9a-f]+"))
    expect(page.locator("svg.chart rect.bar").first).to_be_visible()
    assert page.locator("svg.chart rect.bar").count() >= 7
    expect(page.locator("svg.chart line.baseline")).to_have_count(1)
    expect(page.locator("svg.chart line.threshold")).to_have_count(1)
    shot(page, "alert")

    page.locator('a[href^="/silences/new?alert="]').first.click()
    expect(page).to_have_url(re.compile(r"/silences/new\?alert="))
    assert 'app_id="doubao"' in page.locator("textarea[name=matchers]").input_value()
    page.fill("input[name=comment]", "known launch campaign")
    expect(page.locator("#preview")).to_contain_text("Doubao", timeout=20_000)
    assert int(page.locator("#preview-count").get_attribute("data-count")) >= 1
    shot(page, "silence-new")
    page.click("#create-silence")
    expect(page).to_have_url(re.compile(r"/silences"))
    expect(page.locator("body")).to_contain_text("known launch campaign")
    shot(page, "silences")

    # Doubao's next spike (the next day) is muted: counted as silenced, never delivered
    before = len(doubao_days(hooks))
    silenced = demo.metric("appwatch_alerts_silenced_total")
    spike(broker, scenario.LIVE_DAY + timedelta(days=1), 9_000_000)
    wait_until(lambda: demo.metric("appwatch_alerts_silenced_total") > silenced, 60, "the next spike silenced")
    assert len(doubao_days(hooks)) == before

    # expire it from the page; the spike after that is delivered again
    page.locator("form[action$='/expire'] button").first.click()
    expect(page.locator("body")).to_contain_text("expired")
    spike(broker, scenario.LIVE_DAY + timedelta(days=2), 20_000_000)
    day = (scenario.LIVE_DAY + timedelta(days=2)).isoformat()
    wait_until(lambda: day in doubao_days(hooks), 60, "the spike after the silence expired, delivered")
    assert doubao_days(hooks).count((scenario.LIVE_DAY + timedelta(days=1)).isoformat()) == 0

    page.goto(url + "/backtest")
    page.set_input_files("input[name=file]", str(DATA / "backtest-doubao.jsonl"))
    shot(page, "backtest-upload")
    page.locator("form.upload button[type=submit]").first.click()
    expect(page.locator('[data-state="done"], [data-alert-id]').first).to_be_visible(timeout=60_000)
    results = page.locator("[data-alert-id]")
    expect(results.first).to_be_visible()
    assert results.count() >= 1
    expect(page.locator("body")).to_contain_text("doubao")
    shot(page, "backtest")

    for name in ("rules", "connectors", "market"):
        page.goto(f"{url}/{name}")
        expect(page.locator("main h1").first).to_be_visible()
        shot(page, name)
