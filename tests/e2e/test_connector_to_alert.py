"""A connector feeds the worker: fake estimates API -> `appwatch connect --once` -> broker
-> worker -> a signed spike alert at the webhook receiver."""

import os
import subprocess
import sys
from datetime import date, timedelta

import orjson
import pytest
from werkzeug import Request, Response

pytestmark = pytest.mark.integration


def estimates_api(request: Request) -> Response:
    """Sensor Tower-shaped rows for every day asked for; the last day is a 3x spike."""
    assert request.args["auth_token"] == "t0ken"
    start = date.fromisoformat(request.args["start_date"])
    end = date.fromisoformat(request.args["end_date"])
    rows, day = [], start
    while day <= end:
        units = 2_400_000 if day == end else 800_000
        rows.append(
            {
                "aid": 6459478672,
                "cc": "CN",
                "d": f"{day}T00:00:00Z",
                "iu": units - 40_000,
                "ir": 123_400,
                "au": 40_000,
                "ar": 0,
            }
        )
        day += timedelta(days=1)
    offset = int(request.args.get("offset", 0))
    return Response(orjson.dumps(rows[offset : offset + int(request.args["limit"])]), content_type="application/json")


def test_estimates_connector_to_spike_webhook(broker, topics, hooks, start_worker, httpserver, tmp_path):
    httpserver.expect_request("/v1/ios/sales_report_estimates").respond_with_handler(estimates_api)
    start_worker(topics, APPWATCH_WEBHOOK_URL=hooks.url, APPWATCH_WEBHOOK_SECRET=hooks.secret)
    config = tmp_path / "connectors.yaml"
    config.write_text(f"""
connectors:
  - name: estimates
    kind: download_estimates
    params:
      base_url: {httpserver.url_for("/").rstrip("/")}
      token_env: ESTIMATES_TOKEN
      os: ios
      app_ids: [6459478672]
      countries: [cn]
      lookback_days: 8
      limit: 3
""")
    env = {
        **os.environ,
        "APPWATCH_BROKER": f"kafka://{broker}",
        "APPWATCH_TOPIC_PREFIX": topics.prefix,
        "ESTIMATES_TOKEN": "t0ken",
    }
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "appwatch",
            "connect",
            "--once",
            "--config",
            str(config),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert "16 published" in r.stdout.decode()  # 8 days x (downloads, revenue), 3 pages of 3 rows
    hooks.wait(lambda reqs: len(reqs) >= 1, 30, "the spike alert from connector data")
    ((_, payload),) = hooks.verified()
    alert = payload["data"]
    assert alert["labels"] == {"app_id": "doubao", "platform": "ios", "country": "cn", "metric": "downloads"}
    assert alert["value"] == 2_400_000 and alert["baseline"] == 800_000
    assert "t0ken" not in r.stdout.decode() + r.stderr.decode()

    # a second run re-polls the same numbers: no event is published twice
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "appwatch",
            "connect",
            "--once",
            "--config",
            str(config),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert r.returncode == 0 and "0 published, 16 repeats" in r.stdout.decode(), r.stdout.decode()
