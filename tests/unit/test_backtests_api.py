"""Backtests over HTTP (appwatch/worker/backtests.py), without a web server: upload the
seed story, follow it to the end, get the same alerts as `appwatch backtest` and the report."""

from __future__ import annotations

import asyncio

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
        assert loop.time() < deadline, f"backtest still running after {timeout}s: {status['read']} lines read"
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
        assert status["state"] == "done" and status["read"] == status["lines"] == len(body.splitlines())
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
        b.jobs["busy"] = Job("busy", lines=10)  # still running: no report yet
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
