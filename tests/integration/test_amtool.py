"""Debian's amtool drives a running worker as it would an Alertmanager: alert query,
silence add, query and expire, with a bearer token passed through --http.config.file."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import httpx
import pytest

from tests.conftest import wait_until
from tests.integration.test_pipeline import publish_spike

pytestmark = pytest.mark.integration

AMTOOL = "/usr/bin/amtool"
WRITE, READ = "w-" + "0f1e2d3c4b5a69788796", "r-" + "a5b4c3d2e1f00f1e2d3c"


def w_host() -> str:
    return socket.gethostname()


def config(tmp_path, name: str, token: str | None):
    path = tmp_path / f"{name}.yml"
    path.write_text(f"authorization:\n  type: Bearer\n  credentials: {token}\n" if token else "{}\n")
    return path


def amtool(w, cfg, *args: str) -> subprocess.CompletedProcess:
    if not os.path.exists(AMTOOL):
        pytest.fail(f"{AMTOOL} is missing: make test installs Debian's prometheus-alertmanager")
    return subprocess.run(
        [AMTOOL, f"--alertmanager.url={w.url}", f"--http.config.file={cfg}", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def as_json(r: subprocess.CompletedProcess):
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_amtool_queries_alerts_and_adds_queries_and_expires_a_silence(broker, topics, hooks, start_worker, tmp_path):
    w = start_worker(
        topics,
        APPWATCH_WEBHOOK_URL=hooks.url,
        APPWATCH_WEBHOOK_SECRET=hooks.secret,
        APPWATCH_API_WRITE_TOKENS=WRITE,
        APPWATCH_API_READ_TOKENS=READ,
    )
    write, read, none = config(tmp_path, "write", WRITE), config(tmp_path, "read", READ), config(tmp_path, "none", None)

    publish_spike(broker, topics, "doubao", 800_000)
    hooks.wait(lambda r: len(r) >= 1, 30, "the Doubao alert")
    alerts = wait_until(lambda: as_json(amtool(w, read, "alert", "query", "-o", "json")), 10, "amtool lists it")
    assert [(a["labels"]["app_id"], a["status"]["state"]) for a in alerts] == [("doubao", "active")]
    assert amtool(w, none, "alert", "query").returncode != 0  # 401 without a token
    preview = httpx.post(
        f"{w.url}/api/v1/silences/preview",
        json={"matchers": ['app_id="doubao"']},
        headers={"Authorization": f"Bearer {READ}"},
        timeout=5,
    )
    assert [a["labels"]["app_id"] for a in preview.json()] == ["doubao"]  # what a silence would mute
    reader = {"Authorization": f"Bearer {READ}"}
    status = {r["name"]: r for r in httpx.get(f"{w.url}/api/v1/rules", headers=reader, timeout=5).json()}
    spike = status["download-spike"]
    assert (spike["state"], spike["firing"], spike["line"], spike["worker"]) == ("firing", 1, 4, f"{w_host()}:{w.port}")
    checked = httpx.post(f"{w.url}/api/v1/rules/check", content=b"rules: [{name: x, kind: nope}]", headers=reader)
    assert checked.status_code == 400 and "kind" in checked.json()["errors"][0]

    refused = amtool(w, read, "silence", "add", "app_id=kimi", "--comment=noise", "--duration=1h", "--author=ops")
    assert refused.returncode != 0  # a read token may not add one
    added = amtool(w, write, "silence", "add", "app_id=kimi", "--comment=launch noise", "--duration=1h", "--author=ops")
    assert added.returncode == 0, added.stderr
    sid = added.stdout.strip()
    found = wait_until(
        lambda: [s for s in as_json(amtool(w, read, "silence", "query", "-o", "json")) if s["id"] == sid],
        10,
        "amtool finds the silence",
    )
    assert found[0]["createdBy"] == "ops" and found[0]["status"]["state"] == "active"
    assert found[0]["matchers"] == [{"name": "app_id", "value": "kimi", "isRegex": False, "isEqual": True}]
    wait_until(lambda: w.metric("appwatch_silences_active") == 1, 10, "the worker applies it")

    publish_spike(broker, topics, "kimi", 250_000)
    wait_until(lambda: w.metric("appwatch_alerts_silenced_total") == 1, 30, "the Kimi alert silenced")
    assert [p["data"]["labels"]["app_id"] for _, p in hooks.verified()] == ["doubao"]

    expired = amtool(w, write, "silence", "expire", sid)
    assert expired.returncode == 0, expired.stderr
    wait_until(lambda: not as_json(amtool(w, read, "silence", "query", "-o", "json")), 10, "no silence in force")
    assert sid in amtool(w, read, "silence", "query", "--expired").stdout
