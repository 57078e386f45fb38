"""`appwatch connect` with a source that accepts the connection and never answers.

Regression: `connect --once` never ended (the Google Play fetch, a blocking library call
with no socket timeout, ran in the loop's executor, which `asyncio.run` waits for at
exit), and Ctrl-C did not stop it either. Now every instance has a deadline, a stuck
one does not hold up the others, and Ctrl-C ends the run within two seconds.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import terminate, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


class Silent:
    """A TCP server on 127.0.0.1 that accepts every connection and never says a word."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


@pytest.fixture
def silent():
    s = Silent()
    yield s
    s.close()


def config(tmp_path, silent, api, deadline: str) -> str:
    path = tmp_path / "connectors.yaml"
    path.write_text(f"""
connectors:
  - name: stuck-play
    kind: google_play
    deadline: {deadline}
    params: {{base_url: "{silent.url}", apps: [doubao], timeout: 600}}
  - name: stuck-charts
    kind: apple_charts
    deadline: {deadline}
    params: {{base_url: "{silent.url}", countries: [cn], charts: [top-free]}}
  - name: fine
    kind: apple_charts
    params: {{base_url: "{api.url_for("/api/v2").rstrip("/")}", countries: [cn], charts: [top-free], limit: 100}}
""")
    return str(path)


def start(broker, topics, tmp_path, cfg: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "APPWATCH_BROKER": f"kafka://{broker}",
        "APPWATCH_TOPIC_PREFIX": topics.prefix,
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "appwatch",
            "connect",
            "--once",
            "--config",
            cfg,
            "--state-dir",
            str(tmp_path / "state"),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def outcomes(out: str) -> dict[str, str]:
    return dict((m[2], m[1]) for m in re.finditer(r"^(\w+)\s+(\S+)\s+\d+ published", out, re.MULTILINE))


def test_a_stuck_source_meets_its_deadline_and_the_others_finish(broker, topics, api, data, silent, tmp_path):
    api.expect_request("/api/v2/cn/apps/top-free/100/apps.json").respond_with_json(
        data.apple_feed("cn", "top-free", data.CN_TOP_FREE)
    )
    proc = start(broker, topics, tmp_path, config(tmp_path, silent, api, "3s"))
    try:
        out, err = proc.communicate(timeout=45)
    finally:
        terminate(proc)
    out, err = out.decode(), err.decode()
    assert proc.returncode == 1, out + err
    assert outcomes(out) == {"stuck-play": "error", "stuck-charts": "error", "fine": "ok"}, out
    assert "did not end within its deadline (3s)" in out and len(silent.conns) >= 2


def test_ctrl_c_ends_a_stuck_run_within_two_seconds(broker, topics, api, data, silent, tmp_path):
    api.expect_request("/api/v2/cn/apps/top-free/100/apps.json").respond_with_json(
        data.apple_feed("cn", "top-free", data.CN_TOP_FREE)
    )
    proc = start(broker, topics, tmp_path, config(tmp_path, silent, api, "10m"))
    try:
        wait_until(lambda: len(silent.conns) >= 2 or proc.poll() is not None, 30, "both stuck sources connected")
        # the healthy instance's poll has ended once its checkpoint is saved (its last step)
        wait_until(
            lambda: (tmp_path / "state" / "fine.json").exists() or proc.poll() is not None,
            30,
            "the healthy instance done",
        )
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        terminate(proc)
    out, err = out.decode(), err.decode()
    assert took < 2.0, f"{took:.1f}s after Ctrl-C"
    assert proc.returncode == 130, out + err
    assert outcomes(out) == {"stuck-play": "interrupted", "stuck-charts": "interrupted", "fine": "ok"}, out
    assert "interrupted: the instances still polling were given up" in err


def test_a_partly_fetched_instance_fails_the_run_and_says_so(broker, topics, api, data, tmp_path):
    api.expect_request("/api/v2/cn/apps/top-free/100/apps.json").respond_with_json(
        data.apple_feed("cn", "top-free", data.CN_TOP_FREE)
    )
    api.expect_request("/api/v2/cn/apps/top-paid/100/apps.json").respond_with_data("gone", status=404)
    cfg = tmp_path / "connectors.yaml"
    cfg.write_text(f"""
connectors:
  - name: charts
    kind: apple_charts
    params: {{base_url: "{api.url_for("/api/v2").rstrip("/")}", countries: [cn], limit: 100,
              charts: [top-free, top-paid]}}
""")
    proc = start(broker, topics, tmp_path, str(cfg))
    out, err = proc.communicate(timeout=60)
    out, err = out.decode(), err.decode()
    assert proc.returncode == 1, out + err
    assert outcomes(out) == {"charts": "partial"} and "8 published" in out
    assert "only partly fetched: charts" in err
