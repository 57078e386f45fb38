"""A backtest over a running worker's HTTP API: upload the seed story, follow its progress,
get its alerts and its report; the CSV twin of a small file, as a bearer-token client sends it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from connectors import demo as scenario
from tests.conftest import wait_until

pytestmark = pytest.mark.integration

WRITE = "w-" + "3c2b1a0f9e8d7c6b5a49"


def test_upload_follow_and_read_a_backtest(topics, start_worker):
    w = start_worker(topics, APPWATCH_API_WRITE_TOKENS=WRITE)
    auth = {"Authorization": f"Bearer {WRITE}"}
    body = b"\n".join(ev.to_json() for ev in scenario.events())
    started = httpx.post(f"{w.url}/api/v1/backtests", content=body, headers=auth, timeout=10)
    assert started.status_code == 202, started.text
    status_url = w.url + started.json()["status"]

    def done():
        s = httpx.get(status_url, headers=auth, timeout=5).json()
        return s if s["state"] != "running" else None

    status = wait_until(done, 60, "the backtest done")
    assert status["state"] == "done" and status["done"] == status["total"] == len(body.splitlines())
    assert sorted(a["rule"] for a in status["alerts"]) == sorted(
        [
            "talent-move",
            "talent-move",
            "download-spike",
            "download-spike",
            "user-milestone",
            "rank-number-one",
            "org-change",
        ]
    )
    report = httpx.get(f"{status_url}/report", headers=auth, timeout=10)
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert status["alerts"][0]["alert_id"] in report.text
    assert httpx.get(f"{status_url}/report", timeout=5).status_code == 401


def test_a_csv_upload_and_a_multipart_one_with_edited_rules(topics, start_worker):
    w = start_worker(topics, APPWATCH_API_WRITE_TOKENS=WRITE)
    auth = {"Authorization": f"Bearer {WRITE}"}
    data = Path(__file__).parents[1] / "data"

    def follow(answer: httpx.Response) -> dict:
        assert answer.status_code == 202, answer.text
        url = w.url + answer.json()["status"]
        return wait_until(
            lambda: (s := httpx.get(url, headers=auth, timeout=5).json())["state"] != "running" and s, 60, "done"
        )

    csv_body = (data / "backtest-doubao.csv").read_bytes()
    csv = follow(
        httpx.post(f"{w.url}/api/v1/backtests", content=csv_body, headers={**auth, "Content-Type": "text/csv"})
    )
    assert csv["state"] == "done" and csv["events"] == 110 and "download-spike" in {a["rule"] for a in csv["alerts"]}
    only_ranks = "rules:\n  - name: top\n    kind: rank\n    match: {type: app.rank}\n    params: {reached: 1}\n"
    files = {"file": ("doubao.csv", csv_body)}
    edited = follow(httpx.post(f"{w.url}/api/v1/backtests", files=files, data={"rules": only_ranks}, headers=auth))
    assert [a["rule"] for a in edited["alerts"]] == ["top"] and edited["rules"] == "edited rules"
