"""Shared fixtures: the embedded broker, random topic prefixes, worker processes, receivers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook
from werkzeug import Request, Response

from appwatch.broker import create_topics, embedded, free_port
from appwatch.receiver import new_secret
from core.events import Topics

LOGS = Path(os.environ.get("APPWATCH_TEST_LOGS", "/tmp/appwatch-test-logs"))


def terminate(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``: every process a test starts ends in teardown."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def wait_until(pred: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    """Poll ``pred`` until it is truthy; fail the test naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="session")
def broker() -> str:
    LOGS.mkdir(parents=True, exist_ok=True)
    with embedded(log=LOGS / "tansu.log") as bootstrap:
        yield bootstrap


@pytest.fixture
def topics(broker) -> Topics:
    t = Topics(f"t{uuid.uuid4().hex[:8]}.")
    create_topics(broker, t, 4)
    return t


class Hooks:
    """A webhook receiver on pytest-httpserver that records requests and wakes waiters."""

    def __init__(self, httpserver, secret: str, path: str = "/hook") -> None:
        self.secret = secret
        self.url = httpserver.url_for(path)
        self.statuses: list[int] = []  # responses to give before the default 204
        self.requests: list[tuple[dict, bytes, float]] = []
        self._cond = threading.Condition()
        httpserver.expect_request(path, method="POST").respond_with_handler(self._handle)

    def _handle(self, request: Request) -> Response:
        with self._cond:
            self.requests.append((dict(request.headers), request.get_data(), time.time()))
            status = self.statuses.pop(0) if self.statuses else 204
            self._cond.notify_all()
        return Response(status=status)

    def wait(self, pred: Callable[[list], bool], timeout: float, what: str) -> list:
        with self._cond:
            if not self._cond.wait_for(lambda: pred(self.requests), timeout):
                pytest.fail(f"timed out after {timeout}s waiting for {what}; got {len(self.requests)}")
            return list(self.requests)

    def verified(self) -> list[tuple[str, dict]]:
        """(webhook-id, payload) of every request, each signature checked by standardwebhooks."""
        wh = Webhook(self.secret)
        out = []
        for headers, body, _ in list(self.requests):
            lower = {k.lower(): v for k, v in headers.items()}
            out.append((lower["webhook-id"], wh.verify(body, lower)))
        return out


@pytest.fixture
def local_server():
    """A real HTTP server on 127.0.0.1 of its own (not the shared ``httpserver``)."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def hooks(httpserver) -> Hooks:
    return Hooks(httpserver, new_secret())


class WorkerProc:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def metric(self, name: str, **labels: str) -> float:
        from prometheus_client.parser import text_string_to_metric_families

        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        total = 0.0
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                    total += s.value
        return total

    def stop(self, timeout: float = 10.0) -> None:
        terminate(self.proc, timeout)


@pytest.fixture
def start_worker(broker, request):
    """Start ``appwatch worker`` processes; every one is killed in teardown."""
    procs: list[WorkerProc] = []

    def start(topics: Topics, module: str = "appwatch", **env: str) -> WorkerProc:
        """``module``: what ``python -m`` runs with the argument ``worker``."""
        port = free_port()
        log = LOGS / f"worker-{request.node.name}-{len(procs)}.log"
        full = {
            **os.environ,
            "APPWATCH_BROKER": f"kafka://{broker}",
            "APPWATCH_BROKER_FLAVOR": "tansu",
            "APPWATCH_TOPIC_PREFIX": topics.prefix,
            "APPWATCH_GROUP": f"g-{topics.prefix.rstrip('.')}",
            "APPWATCH_WEB_PORT": str(port),
            "APPWATCH_PARTITIONS": "4",
            "APPWATCH_ALLOW_HOSTS": "localhost,127.0.0.1",
            **env,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", module, "worker"], env=full, stdout=open(log, "wb"), stderr=subprocess.STDOUT
        )
        w = WorkerProc(proc, port, log)
        procs.append(w)

        def ready():
            if proc.poll() is not None:
                pytest.fail(f"worker exited {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                return httpx.get(f"{w.url}/healthz", timeout=1).json()["ready"]
            except httpx.HTTPError:
                return False

        wait_until(ready, 60, "worker ready")
        return w

    yield start
    for w in procs:
        w.stop()


def pytest_sessionstart(session):
    """A fresh fault report for this run (tests/fault/report.py)."""
    from tests.fault.report import report_path

    report_path().unlink(missing_ok=True)


def pytest_terminal_summary(terminalreporter):
    """The fault table of this run, after the results (also: python -m tests.fault.report)."""
    from tests.fault.report import latest, read, report_path

    rows = read(report_path())
    if rows:
        from rich.console import Console

        from tests.fault.report import table

        Console(file=terminalreporter._tw, width=200).print(table(latest(rows)))


def pytest_sessionfinish(session, exitstatus):
    """In CI a skip is a failure: a test that needs a real part (Chromium, Alertmanager, a
    broker) gets it from `make test`, or the feature it covers is not proven."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") and skipped and exitstatus == 0:
        for report in skipped:
            reporter.write_line(f"SKIPPED IN CI (fails the run): {report.nodeid}: {report.longrepr}", red=True)
        session.exitstatus = 1
