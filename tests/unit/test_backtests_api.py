"""Backtests over HTTP (appwatch/worker/backtests.py), without a web server: upload the
seed story, follow it to the end, get the same alerts as `appwatch backtest` and the report;
the same events as CSV; edited rules; progress that moves while the job runs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from appwatch.worker import backtests as bt
from appwatch.worker.backtests import Backtests, Job
from connectors import catalog
from connectors import demo as scenario
from core.auth import Tokens
from streams import backtest, rules

WRITE, READ = "write-token-0123456789abcdef", "read-token-0123456789abcdef"


def seed() -> bytes:
    return b"\n".join([*(ev.to_json() for ev in scenario.events()), *(raw for _, raw in scenario.malformed())])


def jobs() -> Backtests:
    return Backtests(Tokens(write=(WRITE,), read=(READ,)), rules.load, catalog.shipped().companies())


async def finished(b: Backtests, job_id: str, timeout: float = 30.0) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (status := b.status(f"Bearer {READ}", job_id).body)["state"] == "running":
        assert loop.time() < deadline, f"backtest still running after {timeout}s: {status['done']} lines read"
        await asyncio.sleep(0.01)
    return status


def test_the_seed_story_gives_the_same_alerts_as_the_cli_backtest():
    body = seed()
    want = backtest.run(body.splitlines(), rules.load(), catalog.shipped().companies())

    async def go():
        b = jobs()
        started = await b.start(f"Bearer {WRITE}", body)
        assert started.status == 202 and started.body["status"] == f"/api/v1/backtests/{started.body['id']}"
        status = await finished(b, started.body["id"])
        assert status["state"] == "done" and status["done"] == status["total"] == len(body.splitlines())
        assert [a["alert_id"] for a in status["alerts"]] == [a.alert_id for a in want.alerts]
        assert len(status["alerts"]) == 7 and len(status["errors"]) == len(want.errors) == 5
        error, html = b.report(f"Bearer {READ}", started.body["id"])
        assert error is None and html.startswith("<!DOCTYPE html>") and want.alerts[0].alert_id in html

    asyncio.run(go())


def test_scopes_unknown_ids_and_empty_uploads():
    async def go():
        b = jobs()
        assert (await b.start(None, seed())).status == 401
        assert (await b.start(f"Bearer {READ}", seed())).status == 403  # a backtest costs CPU: write
        assert (await b.start(f"Bearer {WRITE}", b"\n \n")).status == 400
        assert b.status(None, "x").status == 401
        assert b.status(f"Bearer {READ}", "nope").status == 404
        assert b.report(f"Bearer {READ}", "nope")[0].status == 404
        b.jobs["busy"] = Job("busy", total=10)  # still running: no report yet
        assert b.report(f"Bearer {READ}", "busy")[0].status == 409

    asyncio.run(go())


def test_only_the_last_backtests_are_kept():
    async def go():
        b = jobs()
        ids = [(await b.start(f"Bearer {WRITE}", b'{"x": 1}')).body["id"] for _ in range(10)]
        for job_id in ids[-8:]:
            await finished(b, job_id)
        assert list(b.jobs) == ids[-8:]
        assert b.status(f"Bearer {READ}", ids[0]).status == 404

    asyncio.run(go())


DATA = Path(__file__).parents[1] / "data"
SPIKE = "download-spike"


def run_job(b: Backtests, body: bytes, **kw) -> dict:
    async def go():
        started = await b.start(f"Bearer {WRITE}", body, **kw)
        assert started.status == 202, started.body
        return await finished(b, started.body["id"])

    return asyncio.run(go())


def test_the_csv_twin_gives_the_alerts_of_the_jsonl_file():
    jsonl = run_job(jobs(), (DATA / "backtest-doubao.jsonl").read_bytes())
    as_csv = run_job(jobs(), (DATA / "backtest-doubao.csv").read_bytes(), csv=True)
    assert [a["alert_id"] for a in as_csv["alerts"]] == [a["alert_id"] for a in jsonl["alerts"]]
    assert SPIKE in {a["rule"] for a in as_csv["alerts"]} and as_csv["errors"] == jsonl["errors"] == []
    assert as_csv["events"] == jsonl["events"] == 110 and as_csv["done"] == as_csv["total"] == 111


def test_a_bad_csv_row_is_reported_with_its_line_and_field():
    header = "event_id,type,source,ts,app_id,platform,country,metric,value,period,payload.note,companies\n"
    good = 'e1,app.metric,t,2024-11-01T00:00:00+08:00,doubao,all,cn,downloads,5,day,"a, b",X|Y\n'
    body = (
        header
        + good
        + "e2,app.metric,t,2024-11-02T00:00:00+08:00,doubao,all,cn,downloads,-3,day,,\n"
        + "e3,app.metric,t,2024-11-03T00:00:00+08:00,doubao,all,cn,downloads,lots,day,,\n"
        + "\n"
        + 'e4,news,t,2024-11-03T00:00:00+08:00,,,,,,,"two\nlines",\n'
        + "e5,app.metric,t,2024-11-04T00:00:00+08:00,doubao,all,cn,downloads,1,day,,,extra\n"
    ).encode()
    status = run_job(jobs(), body, csv=True)
    errors = {e["line"]: e["error"] for e in status["errors"]}
    assert set(errors) == {3, 4, 6, 8}, errors
    assert errors[3].startswith("value:") and errors[4].startswith("value:")
    assert "url" in errors[6] and "title" in errors[6]  # the news row (two lines) lacks them
    assert errors[8].startswith("row: 13 cells")
    assert status["events"] == 1


def test_csv_header_problems_are_refused():
    async def go():
        b = jobs()
        assert (await b.start(f"Bearer {WRITE}", b"", csv=True)).status == 400
        dup = await b.start(f"Bearer {WRITE}", b"type,type\napp.metric,x\n", csv=True)
        assert dup.status == 400 and "'type' is named twice" in dup.body["error"]
        bad = await b.start(f"Bearer {WRITE}", b"type,ts\n\xff,x\n", csv=True)
        assert bad.status == 400 and bad.body["error"].startswith("line 2:")

    asyncio.run(go())


EDITED = """\
rules:
  - name: tiny-spike
    kind: spike
    match: {type: app.metric, metric: downloads, app_id: kimi}
    params: {ratio: 1.01, min_baseline: 1}
"""


def test_edited_rules_replace_the_running_rules_and_a_bad_file_names_its_line():
    status = run_job(jobs(), (DATA / "backtest-doubao.jsonl").read_bytes(), rules=EDITED)
    assert status["rules"] == "edited rules" and {a["rule"] for a in status["alerts"]} == {"tiny-spike"}

    async def go():
        bad = await jobs().start(f"Bearer {WRITE}", b"{}", rules="rules:\n  - name: x\n    kind: nope\n")
        assert bad.status == 400 and bad.body["errors"][0].startswith("<posted rules>:3:")

    asyncio.run(go())


def test_progress_moves_while_the_job_runs(monkeypatch):
    monkeypatch.setattr(bt, "STEP", 10)
    body = (DATA / "backtest-doubao.jsonl").read_bytes()

    async def go():
        b = jobs()
        job_id = (await b.start(f"Bearer {WRITE}", body)).body["id"]
        seen = []
        while (s := b.status(f"Bearer {READ}", job_id).body)["state"] == "running":
            seen.append(s["done"])
            await asyncio.sleep(0)
        return seen, s

    seen, last = asyncio.run(go())
    assert len({d for d in seen if 0 < d < last["total"]}) >= 3, seen  # steps, not one call
    assert last["done"] == last["total"] == 110


@pytest.mark.parametrize(("text", "seconds"), [("24h", 86400), ("7d", 604800), (" 30m ", 1800), ("90s", 90)])
def test_spans(text, seconds):
    from appwatch.worker.rules_api import span_seconds

    assert span_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "0h", "24", "1w", "-1h", "1.5h"])
def test_bad_spans(text):
    from appwatch.worker.rules_api import span_seconds

    assert span_seconds(text) is None
