"""Silences from the CLI and the HTTP API stop matching alerts on a running worker."""

import os
import subprocess
import sys
import time

import httpx
import pytest

from connectors.publish import Publisher
from tests.conftest import wait_until
from tests.integration.test_pipeline import downloads, publish_spike, signed_worker

pytestmark = pytest.mark.integration


def cli(broker, topics, *args):
    env = {**os.environ, "APPWATCH_BROKER": f"kafka://{broker}", "APPWATCH_TOPIC_PREFIX": topics.prefix}
    r = subprocess.run([sys.executable, "-m", "appwatch", "silence", *args], env=env, capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode()


def test_silence_from_the_cli_stops_kimi_within_a_second(broker, topics, hooks, start_worker):
    w = signed_worker(start_worker, topics, hooks)
    out = cli(broker, topics, "add", "-m", 'app_id="kimi"', "--duration", "1h", "--comment", "launch noise")
    added = time.monotonic()
    silence_id = out.split()[0]
    wait_until(lambda: w.metric("appwatch_silences_active") == 1, 10, "the worker sees the silence")
    took = time.monotonic() - added
    assert took < 1.0, f"silence took {took:.2f}s to reach the worker"

    publish_spike(broker, topics, "kimi", 250_000)
    publish_spike(broker, topics, "doubao", 800_000)
    hooks.wait(lambda r: len(r) >= 1, 30, "the Doubao alert")
    wait_until(lambda: w.metric("appwatch_alerts_silenced_total") == 1, 20, "the Kimi alert counted as silenced")
    assert [p["data"]["labels"]["app_id"] for _, p in hooks.verified()] == ["doubao"]
    assert silence_id in cli(broker, topics, "list")

    # expire it: the next Kimi alert (another day) goes out
    cli(broker, topics, "expire", silence_id)
    wait_until(lambda: w.metric("appwatch_silences_active") == 0, 10, "the silence expired")
    with Publisher(broker, topics) as pub:
        pub.send(downloads("kimi", 9, 900_000))
        pub.flush()
    hooks.wait(lambda r: len(r) >= 2, 30, "the Kimi alert after the silence")
    assert "expired" in cli(broker, topics, "list", "--all")


WRITE = "w-" + "a1b2c3d4e5f6a7b8c9d0"


def test_silence_http_api(broker, topics, hooks, start_worker):
    w = start_worker(
        topics, APPWATCH_WEBHOOK_URL=hooks.url, APPWATCH_WEBHOOK_SECRET=hooks.secret, APPWATCH_API_WRITE_TOKENS=WRITE
    )
    api = f"{w.url}/api/v1/silences"
    auth = {"Authorization": f"Bearer {WRITE}"}
    assert (
        httpx.post(
            api, json={"matchers": ["bad matcher"], "ends_at": 2e9, "created_by": "a", "comment": "c"}, headers=auth
        ).status_code
        == 400
    )
    r = httpx.post(
        api,
        json={"matchers": ['app_id=~"tong.*"'], "ends_at": time.time() + 3600, "created_by": "ops", "comment": "known"},
        headers=auth,
    )
    assert r.status_code == 201
    sid = r.json()["id"]
    wait_until(lambda: [s["id"] for s in httpx.get(api, headers=auth).json()] == [sid], 10, "the silence listed")
    publish_spike(broker, topics, "tongyi", 100_000)
    wait_until(lambda: w.metric("appwatch_alerts_silenced_total") == 1, 20, "silenced")
    assert httpx.post(f"{api}/{sid}/expire", headers=auth).status_code == 200
    wait_until(lambda: httpx.get(api, headers=auth).json() == [], 10, "the silence gone from the list")
    assert httpx.post(f"{api}/nope/expire", headers=auth).status_code == 404
    assert hooks.requests == []
