"""Every command that starts a child process leaves none behind: SIGTERM or SIGKILL to
the parent, and no child is left and the broker's port is free.

Regression: `appwatch broker` left its Tansu child running (a new session; SIGTERM killed
Python before the clean-up), and a second broker on that port talked to the orphan.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import orjson
import psutil
import pytest

from appwatch.broker import free_port
from tests.conftest import LOGS, terminate, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def big_import(tmp_path) -> str:
    """Enough rows that the import's two worker processes are still at work when killed."""
    path = tmp_path / "big.jsonl"
    row = dict(
        type="app.metric",
        source="t",
        ts="2024-11-14T00:00:00+08:00",
        platform="all",
        country="cn",
        metric="downloads",
        value=1,
        period="day",
    )
    path.write_bytes(
        b"".join(orjson.dumps({**row, "event_id": f"e{i}", "app_id": f"app{i % 997}"}) + b"\n" for i in range(400_000))
    )
    return str(path)


def connectors_file(tmp_path) -> str:
    path = tmp_path / "connectors.yaml"
    path.write_text(
        "connectors: [{name: hn, kind: hn_search, interval: 1d, params: "
        "{base_url: 'http://127.0.0.1:9', queries: [x]}}]\n"
    )
    return str(path)


COMMANDS = {  # name -> (argv after `appwatch`, python children expected besides the broker)
    "broker": (lambda tmp: ["broker", "--port", str(free_port())], 0),
    "demo": (lambda tmp: ["demo", "--web-port", str(free_port()), "--live-seconds", "600"], 0),
    "worker --embedded": (lambda tmp: ["worker", "--embedded", "--web-port", str(free_port())], 0),
    "serve --embedded": (lambda tmp: ["serve", "--embedded", "--port", str(free_port())], 0),
    "connect --embedded": (
        lambda tmp: ["connect", "--embedded", "--config", connectors_file(tmp), "--state-dir", str(tmp / "state")],
        0,
    ),
    "import --embedded": (
        lambda tmp: ["import", big_import(tmp), "--embedded", "--workers", "2", "--state-dir", str(tmp / "state")],
        2,
    ),
}


def command(p: psutil.Process) -> str:
    """Its command line ("" once it is gone: children come and go while we look)."""
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def listening_port(p: psutil.Process) -> int | None:
    try:
        ports = [c.laddr.port for c in p.net_connections(kind="tcp") if c.status == psutil.CONN_LISTEN]
    except psutil.Error:
        return None
    return ports[0] if ports else None


def port_free(port: int) -> bool:
    """Nobody listens on 127.0.0.1:``port`` (bound as a server would, SO_REUSEADDR)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def gone(p: psutil.Process) -> bool:
    try:
        return p.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("name", list(COMMANDS))
def test_no_child_outlives_its_parent(name, sig, tmp_path):
    argv, pythons = COMMANDS[name]
    env = {k: v for k, v in os.environ.items() if k != "APPWATCH_BROKER"}
    env |= {"APPWATCH_INGEST_TOKEN": "tok", "APPWATCH_CONSOLE": "false"}
    log = LOGS / f"children-{name.replace(' ', '')}-{sig.name}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "appwatch", *argv(tmp_path)],
        env=env,
        cwd=tmp_path,
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        parent = psutil.Process(proc.pid)
        found: dict = {}

        def started():
            if proc.poll() is not None:
                pytest.fail(f"{name} exited {proc.returncode}: {log.read_text()[-2000:]}")
            kids = parent.children(recursive=True)
            brokers = [k for k in kids if "tansu" in command(k)]
            found["port"] = listening_port(brokers[0]) if brokers else None
            found["kids"] = kids
            workers = [k for k in kids if "python" in command(k)]
            return found["port"] and len(workers) >= pythons

        wait_until(started, 60, f"{name}: its broker listening and its workers running")
        proc.send_signal(sig)
        proc.wait(20)
        wait_until(
            lambda: all(gone(k) for k in found["kids"]),
            10,
            f"{name}: no child left after {sig.name} ({[k.pid for k in found['kids'] if not gone(k)]})",
        )
        wait_until(lambda: port_free(found["port"]), 10, f"{name}: port {found['port']} free")
    finally:
        terminate(proc)
        for k in found.get("kids", []):
            if not gone(k):
                k.kill()
