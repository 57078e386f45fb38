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
    consumer = KafkaConsumer(
        topic, bootstrap_servers=broker, auto_offset_reset="earliest", consumer_timeout_ms=timeout_ms
    )
    out = []
    for msg in consumer:
        out.append((msg.key, orjson.loads(msg.value)))
        if len(out) >= n:
            break
    consumer.close()
    return out


def env_for(broker, topics, **extra):
    return {**os.environ, "APPWATCH_BROKER": f"kafka://{broker}", "APPWATCH_TOPIC_PREFIX": topics.prefix, **extra}


def test_serve_publishes_accepted_events(broker, topics, tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "appwatch", "serve", "--port", str(port)],
        env=env_for(broker, topics, APPWATCH_INGEST_TOKEN="tok"),
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "serve.log", "wb"),
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up():
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None and pytest.fail((tmp_path / "serve.log").read_text())

        wait_until(up, 30, "the ingest server")
        event = {
            "event_id": "vendor:1",
            "type": "app.rank",
            "source": "vendor",
            "ts": "2024-11-14T09:00:00+08:00",
            "app_id": "doubao",
            "platform": "ios",
            "country": "cn",
            "chart": "top-free",
            "rank": 1,
        }
        assert httpx.post(f"{url}/v1/events", json=event).status_code == 401
        r = httpx.post(f"{url}/v1/events", json=[event, {**event, "rank": 0}], headers={"Authorization": "Bearer tok"})
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
    header = ["Date", "App", "Country", "Downloads"]
    good = [
        ["2024-11-13", "豆包", "CN", "812,345"],
        ["2024-11-14", "Kimi智能助手", "CN", "not a number"],
        ["2024-11-14", "ChatGPT", "US", "901,000"],
    ]

    def write(rows, mode="w"):
        with path.open(mode, newline="") as f:
            w = csv.writer(f)
            if mode == "w":
                w.writerow(header)
            w.writerows(rows)

    write(good)
    state = tmp_path / "state"
    args = [
        sys.executable,
        "-m",
        "appwatch",
        "import",
        str(path),
        "--map",
        "ts=Date",
        "--map",
        "app_name=App",
        "--map",
        "country=Country",
        "--map",
        "value=Downloads",
        "--set",
        "type=app.metric",
        "--set",
        "metric=downloads",
        "--set",
        "period=day",
        "--set",
        "platform=all",
        "--state-dir",
        str(state),
    ]

    def run():
        r = subprocess.run(args, env=env_for(broker, topics), capture_output=True, timeout=60)
        return r.returncode, r.stderr.decode()

    rc, err = run()
    assert rc == 1, err
    assert f"{path}:3: value: Input should be a valid number" in err
    assert "published 2 events" in err
    # where the bad row went, and where the next run starts
    rejected = state / "rejected-export.jsonl"
    assert f"1 row was not published: it is in {rejected}" in err.replace("\n", "")
    assert "checkpoint stays at line 2, before line 3" in err.replace("\n", "")
    (bad,) = map(orjson.loads, rejected.read_bytes().splitlines())
    assert bad["line"] == 3 and bad["row"]["Downloads"] == "not a number" and bad["error"].startswith("value:")
    events = consume(broker, topics.metrics, 2)
    by_app = {v["app_id"]: v for _, v in events}
    assert set(by_app) == {"doubao", "chatgpt"}  # 豆包 found through the catalog
    assert by_app["doubao"]["value"] == 812345 and by_app["doubao"]["country"] == "cn"
    assert by_app["doubao"]["ts"] == "2024-11-13T00:00:00+08:00"

    # append a line: the second run starts at the bad line again (the checkpoint did not pass it)
    write([["2024-11-15", "豆包", "CN", "2,400,000"]], mode="a")
    rc, err = run()
    assert rc == 1 and "published 2 events" in err and "2 lines skipped" not in err, err
    # fix the bad row: the file's head changed, so the import starts over; the repeats carry
    # the same event_ids (the worker drops them)
    write(
        [*good[:1], ["2024-11-14", "Kimi智能助手", "CN", "120,000"], good[2], ["2024-11-15", "豆包", "CN", "2,400,000"]]
    )
    rc, err = run()
    assert rc == 0 and "published 4 events" in err, err
    rc, err = run()
    assert rc == 0 and "published 0 events" in err and "4 lines skipped" in err, err
    events = consume(broker, topics.metrics, 8)
    assert len(events) == 8 and len({v["event_id"] for _, v in events}) == 4
    assert sorted({v["event_id"]: v["value"] for _, v in events}.values()) == [120000, 812345, 901000, 2400000]


def test_an_import_whose_rows_are_all_invalid_fails_and_keeps_no_checkpoint(broker, topics, tmp_path):
    """Regression: an import of nothing but invalid rows was marked as done."""
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"type": "app.metric", "value": -1}\n{"not": "an event"}\nnot json\n')
    state = tmp_path / "state"
    args = [sys.executable, "-m", "appwatch", "import", str(path), "--state-dir", str(state), "--workers", "2"]
    for _ in range(2):  # and again: nothing was skipped as "already imported"
        r = subprocess.run(args, env=env_for(broker, topics), capture_output=True, timeout=60)
        err = r.stderr.decode().replace("\n", "")
        assert r.returncode == 1, err
        assert "published 0 events" in err and "3 invalid, 0 lines skipped" in err
        assert "3 rows were not published" in err and "the checkpoint stays at line 0, before line 1" in err
        assert len((state / "rejected-bad.jsonl").read_bytes().splitlines()) == 3
    assert not list(state.glob("import-*.json"))  # no checkpoint


def test_import_embedded_says_so_and_writes_no_checkpoint(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_bytes(
        orjson.dumps(
            dict(
                event_id="e1",
                type="app.metric",
                source="t",
                ts="2024-11-14T00:00:00+08:00",
                app_id="a",
                platform="all",
                country="cn",
                metric="downloads",
                value=1,
                period="day",
            )
        )
        + b"\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "APPWATCH_BROKER"}
    r = subprocess.run(
        [sys.executable, "-m", "appwatch", "import", str(path), "--embedded", "--state-dir", str(tmp_path / "state")],
        env=env,
        capture_output=True,
        timeout=60,
    )
    err = r.stderr.decode().replace("\n", "")
    assert r.returncode == 0, err
    assert "--embedded: a throwaway in-memory broker" in err and "no checkpoint is written" in err
    assert "published 1 events" in err
    assert not (tmp_path / "state").exists()
