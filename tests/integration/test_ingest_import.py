"""`appwatch serve` and `appwatch import` as processes, into the embedded broker."""

import csv
import os
import subprocess
import sys

import httpx
import orjson
import pytest
from kafka import KafkaConsumer

from appwatch.broker import free_port
from tests.conftest import wait_until

pytestmark = pytest.mark.integration


def consume(broker, topic, n, timeout_ms=15_000):
    consumer = KafkaConsumer(topic, bootstrap_servers=broker, auto_offset_reset="earliest",
                             consumer_timeout_ms=timeout_ms)
    out = []
    for msg in consumer:
        out.append((msg.key, orjson.loads(msg.value)))
        if len(out) >= n:
            break
    consumer.close()
    return out


def env_for(broker, topics, **extra):
    return {**os.environ, "APPWATCH_BROKER": f"kafka://{broker}", "APPWATCH_TOPIC_PREFIX": topics.prefix,
            **extra}


def test_serve_publishes_accepted_events(broker, topics, tmp_path):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "appwatch", "serve", "--port", str(port)],
                            env=env_for(broker, topics, APPWATCH_INGEST_TOKEN="tok"),
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "serve.log", "wb"))
    url = f"http://127.0.0.1:{port}"
    try:
        def up():
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None and pytest.fail((tmp_path / "serve.log").read_text())
        wait_until(up, 30, "the ingest server")
        event = {"event_id": "vendor:1", "type": "app.rank", "source": "vendor",
                 "ts": "2024-11-14T09:00:00+08:00", "app_id": "doubao", "platform": "ios",
                 "country": "cn", "chart": "top-free", "rank": 1}
        assert httpx.post(f"{url}/v1/events", json=event).status_code == 401
        r = httpx.post(f"{url}/v1/events", json=[event, {**event, "rank": 0}],
                       headers={"Authorization": "Bearer tok"})
        assert r.status_code == 422 and r.json()["accepted"] == ["vendor:1"]
        ((key, value),) = consume(broker, topics.ranks, 1)
        assert key == b"doubao|cn" and value["rank"] == 1
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_import_maps_columns_reports_bad_lines_and_resumes(broker, topics, tmp_path):
    path = tmp_path / "export.csv"
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Date", "App", "Country", "Downloads"])
        w.writerow(["2024-11-13", "豆包", "CN", "812,345"])
        w.writerow(["2024-11-14", "Kimi智能助手", "CN", "not a number"])
        w.writerow(["2024-11-14", "ChatGPT", "US", "901,000"])
    args = [sys.executable, "-m", "appwatch", "import", str(path), "--map", "ts=Date",
            "--map", "app_name=App", "--map", "country=Country", "--map", "value=Downloads",
            "--set", "type=app.metric", "--set", "metric=downloads", "--set", "period=day",
            "--set", "platform=all", "--state-dir", str(tmp_path / "state")]
    r = subprocess.run(args, env=env_for(broker, topics), capture_output=True, timeout=60)
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert f"{path}:3: value: Input should be a valid number" in err
    assert "published 2 events" in err
    events = consume(broker, topics.metrics, 2)
    by_app = {v["app_id"]: v for _, v in events}
    assert set(by_app) == {"doubao", "chatgpt"}  # 豆包 found through the catalog
    assert by_app["doubao"]["value"] == 812345 and by_app["doubao"]["country"] == "cn"
    assert by_app["doubao"]["ts"] == "2024-11-13T00:00:00+08:00"

    # append a line: the second run publishes only it
    with path.open("a", newline="") as f:
        csv.writer(f).writerow(["2024-11-15", "豆包", "CN", "2,400,000"])
    r = subprocess.run(args, env=env_for(broker, topics), capture_output=True, timeout=60)
    assert "published 1 events" in r.stderr.decode(), r.stderr.decode()
    assert r.returncode == 0
    events = consume(broker, topics.metrics, 3)
    assert sorted(v["value"] for _, v in events) == [812345, 901000, 2400000]
