"""/readyz of `appwatch serve` and `appwatch connect` follows the broker: up, down, back.

Regression: both relied on kafka-python's ``bootstrap_connected()``, which with
kafka-python 3.0 never reports connected, so /readyz always answered 503 and the
Kubernetes probes would never have marked the pods ready.
"""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from appwatch.broker import create_topics, embedded, free_port
from core.events import Topics
from tests.conftest import LOGS, terminate, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def ready(url: str) -> int | None:
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code
    except httpx.HTTPError:
        return None


@pytest.mark.parametrize("command", ["serve", "connect"])
def test_readyz_follows_the_broker_up_down_and_back(command, tmp_path):
    port, web = free_port(), free_port()
    topics = Topics("probe.")
    cfg = tmp_path / "connectors.yaml"
    cfg.write_text(
        "connectors: [{name: hn, kind: hn_search, interval: 1d, params: "
        "{base_url: 'http://127.0.0.1:9', queries: [x]}}]\n"
    )
    args = {
        "serve": ["serve", "--port", str(web)],
        "connect": [
            "connect",
            "--config",
            str(cfg),
            "--metrics-port",
            str(web),
            "--state-dir",
            str(tmp_path / "state"),
        ],
    }[command]
    env = {
        **os.environ,
        "APPWATCH_BROKER": f"kafka://127.0.0.1:{port}",
        "APPWATCH_TOPIC_PREFIX": topics.prefix,
        "APPWATCH_INGEST_TOKEN": "tok",
    }
    url = f"http://127.0.0.1:{web}"
    first, proc = embedded(port), None
    try:
        create_topics(first.__enter__(), topics, 4)
        proc = subprocess.Popen(
            [sys.executable, "-m", "appwatch", *args],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=open(LOGS / f"readyz-{command}.log", "wb"),
        )
        wait_until(lambda: ready(url) == 200 or proc.poll() is not None, 40, "ready with the broker up")
        assert proc.poll() is None and ready(url) == 200
        first.__exit__(None, None, None)  # the broker goes away
        first = None
        wait_until(lambda: ready(url) == 503, 20, "503 with the broker down")
        assert httpx.get(f"{url}/healthz", timeout=2).status_code == 200  # alive all the same
        with embedded(port):
            wait_until(lambda: ready(url) == 200, 20, "ready again with the broker back")
    finally:
        if first is not None:
            first.__exit__(None, None, None)
        if proc is not None:
            terminate(proc)
