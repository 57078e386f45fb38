"""Child processes of the harness: each one dies with the harness and is stopped in ``finally``.

Every child gets ``PR_SET_PDEATHSIG(SIGKILL)``, so even a harness killed with SIGKILL
leaves no worker behind; ``Procs.stop_all`` sends SIGTERM, then SIGKILL after a timeout
(a Faust worker can hang on SIGTERM).
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from appwatch.broker import die_with_parent, free_port

ROOT = Path(__file__).resolve().parent.parent


class Proc:
    def __init__(self, name: str, popen: subprocess.Popen, log: Path, port: int | None = None) -> None:
        self.name, self.popen, self.log, self.port = name, popen, log, port

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        if self.popen.poll() is not None:
            return
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(5)


class Procs:
    """Starts children and stops them all, whatever happens."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.procs: list[Proc] = []

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None, port: int | None = None) -> Proc:
        log = self.logs / f"{name}.log"
        out = open(log, "wb")
        popen = subprocess.Popen(
            [sys.executable, *args],
            env={**os.environ, **(env or {})},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=functools.partial(die_with_parent, os.getpid()),
        )
        out.close()
        p = Proc(name, popen, log, port)
        self.procs.append(p)
        return p

    def stop(self, *procs: Proc, timeout: float = 5.0) -> None:
        for p in procs:  # signal all first, then wait: stopping two workers takes one timeout
            if p.alive():
                p.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in procs:
            try:
                p.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.popen.kill()
                p.popen.wait(5)

    def stop_all(self) -> None:
        self.stop(*[p for p in self.procs if p.alive()])

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()


def worker_env(bootstrap: str, prefix: str, group: str, port: int, **extra: str) -> dict[str, str]:
    return {
        "APPWATCH_BROKER": f"kafka://{bootstrap}",
        "APPWATCH_BROKER_FLAVOR": "tansu",
        "APPWATCH_TOPIC_PREFIX": prefix,
        "APPWATCH_GROUP": group,
        "APPWATCH_WEB_PORT": str(port),
        "APPWATCH_PARTITIONS": "4",
        "APPWATCH_CONSOLE": "false",
        "APPWATCH_LOG_LEVEL": "warning",
        **extra,
    }


WORKER = ["-m", "appwatch", "worker"]


def start_worker(procs: Procs, name: str, bootstrap: str, prefix: str, group: str, **extra: str) -> Proc:
    port = free_port()
    return procs.start(name, WORKER, worker_env(bootstrap, prefix, group, port, **extra), port=port)


def wait_ready(p: Proc, timeout: float) -> float:
    """Wait for the worker's /healthz to say ready; return the monotonic time it did."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while True:
            if not p.alive():
                raise RuntimeError(f"{p.name} exited {p.popen.returncode}: {p.tail()}")
            try:
                if client.get(f"http://127.0.0.1:{p.port}/healthz").json().get("ready"):
                    return time.monotonic()
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{p.name} not ready after {timeout}s: {p.tail()}")
            time.sleep(0.05)


def metric(client: httpx.Client, p: Proc, name: str) -> float:
    """Sum of one counter's samples on a worker's /metrics (0 when unreachable)."""
    try:
        text = client.get(f"http://127.0.0.1:{p.port}/metrics").text
    except httpx.HTTPError:
        return 0.0
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {"):
            try:
                total += float(line.rsplit(" ", 1)[1])
            except ValueError:
                pass
    return total
