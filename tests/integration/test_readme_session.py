"""The README's "session with a separate broker and worker" runs as written: broker,
receiver, worker, publish; the receiver prints verified alerts. Only its two fixed ports
are swapped for free ones, so the test never collides with anything on the machine."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appwatch.broker import free_port
from tests.conftest import LOGS, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
README = Path(__file__).resolve().parents[2] / "README.md"


def session_block() -> str:
    text = README.read_text()
    start = text.index("A session with a separate broker and worker:")
    return re.search(r"```bash\n(.*?)```", text[start:], re.S).group(1)


def test_the_session_block_delivers_verified_alerts_to_appwatch_receive(tmp_path):
    block = session_block()
    assert "appwatch receive --port 8000" in block and "http://127.0.0.1:8000/hook" in block
    script = block.replace("9092", str(free_port())).replace("8000", str(free_port()))
    log = LOGS / "readme-session.log"
    LOGS.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "APPWATCH_WEB_PORT": str(free_port()),
    }  # the worker's metrics port: not 6066, which others may hold
    env.pop("APPWATCH_BROKER", None)
    with open(log, "wb") as sink:
        proc = subprocess.Popen(
            ["bash", "-c", script + "\nwait\n"],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        spike = re.compile(r"^alert\.firing ALERT \w+ download-spike .*app_id=doubao", re.M)
        wait_until(lambda: spike.search(log.read_text()), 180, "appwatch receive printing the Doubao spike")
        assert "receiving signed webhooks on http://127.0.0.1:" in log.read_text()
    finally:
        left = stop_group(proc)
    assert left == [], f"still running 40 s after SIGTERM: {left}"


def stop_group(proc: subprocess.Popen, grace: float = 40.0) -> list[str]:
    """SIGTERM the session's process group (broker, receiver, worker at once, as a user's
    Ctrl-C in a terminal would), then wait for every member to end; SIGKILL what is left
    after ``grace`` seconds. Returns what had to be killed."""
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=10)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        left = members(proc.pid)
        if not left:
            return []
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    return left


def members(pgid: int) -> list[str]:
    """The command lines of the live processes in process group ``pgid``."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            out.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120])
    return out
