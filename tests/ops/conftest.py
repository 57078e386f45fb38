"""The ops stack: a real Prometheus scraping a running `appwatch demo` and `appwatch connect`.

Started once per session, only by the tests that ask for ``stack``:

- a loopback fixture server: the demo's ``--webhook-url`` (answers 204 twice, then 410 Gone,
  so the webhook receiver gets disabled as in production), and an RSS feed for the
  connectors (two good entries and one without a link, counted as a bad entry) next to a
  path that answers 404 (a connector whose every poll fails);
- ``appwatch demo`` (embedded broker, worker, seed scenario) serving /metrics;
- ``appwatch connect`` (daemon, 1s interval) publishing to the demo's broker, /metrics;
- ``prometheus`` scraping both every second (jobs appwatch-worker and appwatch-connectors)
  and evaluating deploy/prometheus/rules/appwatch.rules.yml every second.

Every process is terminated in teardown (SIGTERM, then SIGKILL after a timeout).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
import yaml
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from appwatch.broker import free_port
from appwatch.receiver import new_secret
from tests.conftest import LOGS, terminate, wait_until

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "appwatch.json"
GENERATOR = ROOT / "deploy" / "grafana" / "dashboard.py"
RULES = ROOT / "deploy" / "prometheus" / "rules" / "appwatch.rules.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "tests" / "appwatch.rules.test.yml"

# What Grafana substitutes before a query reaches Prometheus. The windows are wide enough to
# span the whole demo run (it is a minute old when queried), so a counter that only moved
# during the history replay still has a rate.
GRAFANA_VARS = {"$__rate_interval": "5m", "$__range": "5m", "$__interval": "15s"}
WEBHOOK_OK_BEFORE_GONE = 2
DEMO_ALERTS = 7  # the story: see tests/e2e/test_demo.py


def tool(name: str) -> str:
    """The path of a Prometheus binary; skip without it, except in CI (CI=true) where it fails."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
    if path:
        return path
    msg = f"{name} not installed (Debian package 'prometheus')"
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


def substitute(expr: str, app: str = ".*") -> str:
    """A panel's PromQL as Grafana sends it: its variables replaced."""
    for name, value in GRAFANA_VARS.items():
        expr = expr.replace(name, value)
    expr = expr.replace("${app}", app).replace("$app", app)
    assert "$" not in expr, f"unsubstituted variable in {expr!r}"
    return expr


def rss(now: datetime) -> str:
    def item(title: str, link: str | None, guid: str, minutes: int) -> str:
        when = format_datetime(now - timedelta(minutes=minutes))
        link_el = f"<link>{link}</link>" if link else ""
        return (
            f'<item><title>{title}</title>{link_el}<guid isPermaLink="false">{guid}</guid>'
            f"<pubDate>{when}</pubDate><description>{title}.</description></item>"
        )

    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        "<title>appwatch ops test feed</title><link>https://example.com/</link>"
        "<description>fixture</description>"
        + item("ByteDance launches a new Doubao model", "https://example.com/news/1", "ops-1", 30)
        + item("Moonshot AI raises new funding for Kimi", "https://example.com/news/2", "ops-2", 20)
        + item("An entry without a link", None, "ops-3", 10)
        + "</channel></rss>"
    )


@dataclass
class Stack:
    prometheus: str
    demo_metrics: str
    connect_metrics: str
    demo_log: Path
    webhook_requests: list[int] = field(default_factory=list)

    def api(self, path: str, **params) -> dict:
        resp = httpx.get(f"{self.prometheus}{path}", params=params, timeout=10)
        body = resp.json()
        assert resp.status_code == 200 and body["status"] == "success", (path, params, body)
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        data = self.api("/api/v1/query", query=expr)
        assert data["resultType"] == "vector", data  # every panel query is an instant vector
        return data["result"]

    def scalar(self, expr: str) -> float:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else math.nan


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _alive(proc: subprocess.Popen, log: Path, what: str) -> None:
    if proc.poll() is not None:
        pytest.fail(f"{what} exited {proc.returncode}: {log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    prometheus_bin = tool("prometheus")
    LOGS.mkdir(parents=True, exist_ok=True)
    tmp = tmp_path_factory.mktemp("ops")
    procs: list[subprocess.Popen] = []
    server = HTTPServer(host="127.0.0.1", port=0)
    try:
        # --- fixture server: webhook receiver (204, 204, then 410) and the feeds
        hits: list[int] = []
        lock = threading.Lock()

        def hook(request: Request) -> Response:
            with lock:
                status = 204 if len(hits) < WEBHOOK_OK_BEFORE_GONE else 410
                hits.append(status)
            return Response(status=status)

        server.expect_request("/hook", method="POST").respond_with_handler(hook)
        server.expect_request("/feed.xml").respond_with_data(rss(datetime.now(UTC)), content_type="application/rss+xml")
        server.expect_request("/missing.xml").respond_with_data("gone", status=404)
        server.start()

        demo_port, connect_port, prom_port = free_port(), free_port(), free_port()
        st = Stack(
            prometheus=f"http://127.0.0.1:{prom_port}",
            demo_metrics=f"http://127.0.0.1:{demo_port}/metrics",
            connect_metrics=f"http://127.0.0.1:{connect_port}/metrics",
            demo_log=LOGS / "ops-demo.out",
            webhook_requests=hits,
        )

        # --- Prometheus first, so that it scrapes the worker from its first second
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {"job_name": "appwatch-worker", "static_configs": [{"targets": [f"127.0.0.1:{demo_port}"]}]},
                {"job_name": "appwatch-connectors", "static_configs": [{"targets": [f"127.0.0.1:{connect_port}"]}]},
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        prom_log = LOGS / "ops-prometheus.log"
        prom = subprocess.Popen(
            [
                prometheus_bin,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=open(prom_log, "wb"),
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
        procs.append(prom)

        def prom_ready():
            _alive(prom, prom_log, "prometheus")
            return _ready(f"{st.prometheus}/-/ready")

        wait_until(prom_ready, 60, "prometheus ready", interval=0.2)

        # --- the demo, with its webhook pointed at the fixture server
        # (the demo needs a secret with --webhook-url: it signs the webhooks with it)
        env = {
            **os.environ,
            "APPWATCH_ALLOW_HOSTS": "localhost,127.0.0.1",
            "COLUMNS": "200",
            "APPWATCH_WEBHOOK_SECRET": new_secret(),
        }
        for var in ("APPWATCH_BROKER", "APPWATCH_WEBHOOK_URL", "APPWATCH_ALERTS_CONFIG", "APPWATCH_WEB_PORT"):
            env.pop(var, None)
        demo = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "appwatch",
                "demo",
                "--duration",
                "240",
                "--live-seconds",
                "8",
                "--web-port",
                str(demo_port),
                "--webhook-url",
                server.url_for("/hook"),
            ],
            stdout=open(st.demo_log, "wb"),
            stderr=subprocess.STDOUT,
            env=env,
            cwd=tmp,
        )
        procs.append(demo)

        def bootstrap():
            _alive(demo, st.demo_log, "appwatch demo")
            m = re.search(r"appwatch demo\s+broker (\S+:\d+)", st.demo_log.read_text(errors="replace"))
            return m and m.group(1)

        broker = wait_until(bootstrap, 90, "the demo's broker address", interval=0.2)

        # --- the connectors, publishing into the demo's broker
        (tmp / "connectors.yaml").write_text(
            yaml.safe_dump(
                {
                    "connectors": [
                        {
                            "name": "feeds-local",
                            "kind": "news_feed",
                            "interval": "1s",
                            "jitter": 0,
                            "params": {"feeds": [{"url": server.url_for("/feed.xml"), "name": "local", "lang": "en"}]},
                        },
                        {
                            "name": "feeds-broken",
                            "kind": "news_feed",
                            "interval": "1s",
                            "jitter": 0,
                            "params": {"feeds": [{"url": server.url_for("/missing.xml"), "name": "missing"}]},
                        },
                    ]
                },
                sort_keys=False,
            )
        )
        connect_log = LOGS / "ops-connect.out"
        connect = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "appwatch",
                "connect",
                "--config",
                str(tmp / "connectors.yaml"),
                "--state-dir",
                str(tmp / "state"),
                "--metrics-port",
                str(connect_port),
            ],
            stdout=open(connect_log, "wb"),
            stderr=subprocess.STDOUT,
            cwd=tmp,
            env={**env, "APPWATCH_BROKER": f"kafka://{broker}", "APPWATCH_BROKER_FLAVOR": "tansu"},
        )
        procs.append(connect)

        # --- wait for the story to play out and for Prometheus to have seen it
        def seen(expr: str, at_least: float, proc: subprocess.Popen, log: Path, what: str):
            def pred():
                _alive(proc, log, what)
                value = st.scalar(expr)
                return value >= at_least

            return pred

        wait_until(
            seen("sum(appwatch_alerts_total)", DEMO_ALERTS, demo, st.demo_log, "demo"),
            180,
            f"Prometheus to see the demo's {DEMO_ALERTS} alerts",
            interval=0.5,
        )

        def live_day_done():
            _alive(demo, st.demo_log, "appwatch demo")
            return "scenario published" in st.demo_log.read_text(errors="replace")

        wait_until(live_day_done, 120, "the demo's live day to be published", interval=0.5)
        wait_until(
            seen("max(appwatch_receiver_disabled)", 1, demo, st.demo_log, "demo"),
            60,
            "the webhook receiver disabled by its 410",
            interval=0.5,
        )
        wait_until(
            seen(
                'sum(appwatch_connector_polls_total{connector="feeds-local"})',
                3,
                connect,
                connect_log,
                "appwatch connect",
            ),
            90,
            "three polls of the local feed scraped",
            interval=0.5,
        )
        wait_until(
            seen(
                'sum(appwatch_connector_polls_total{connector="feeds-broken"})',
                3,
                connect,
                connect_log,
                "appwatch connect",
            ),
            60,
            "three failed polls of the broken feed scraped",
            interval=0.5,
        )
        wait_until(
            seen(
                'min(count_over_time(up{job=~"appwatch-worker|appwatch-connectors"}[5m]))',
                10,
                demo,
                st.demo_log,
                "demo",
            ),
            60,
            "ten scrapes of each target",
            interval=0.5,
        )
        yield st
    finally:
        for proc in reversed(procs):
            terminate(proc, timeout=15)
        server.clear()
        if server.is_running():
            server.stop()
