"""Backtests over HTTP: upload a JSONL of events, follow its progress, then get its alerts
and its HTML report. The detectors are the worker's own (``streams.backtest`` over the rules
the worker runs), off the event loop in a thread.

    POST /api/v1/backtests               JSONL events as the body: 202 {"id", "status"}
    GET  /api/v1/backtests/{id}          {"state": running|done|failed, "lines", "read",
                                       "events", "duplicates", "alerts", "errors"}
    GET  /api/v1/backtests/{id}/report   the HTML report, once done

A backtest costs CPU, so starting one needs a write token; reading one a read token. The
last ``KEEP`` backtests are kept, in this worker's memory only.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import faust

from core.auth import Caller, Tokens
from streams import backtest, report
from streams.rules import RuleSet

from .api import Answer, caller, denied, reply

KEEP = 8  # backtests kept, the oldest dropped first (an upload is at most base.MAX_BODY)
MAX_ERRORS = 200  # invalid lines listed in a status


@dataclass
class Job:
    id: str
    lines: int
    read: int = 0
    state: str = "running"
    result: backtest.Result | None = None
    failure: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def status(self) -> dict:
        r = self.result
        return {
            "id": self.id,
            "state": self.state,
            "lines": self.lines,
            "read": self.read,
            "started": self.started,
            "finished": self.finished,
            "events": len(r.events) if r else 0,
            "duplicates": r.duplicates if r else 0,
            "alerts": [a.model_dump(mode="json") for a in r.alerts] if r else [],
            "errors": [{"line": n, "error": msg} for n, msg in r.errors[:MAX_ERRORS]] if r else [],
            "failure": self.failure,
        }


class Backtests:
    def __init__(self, tokens: Tokens, ruleset: Callable[[], RuleSet], companies: dict[str, str] | None) -> None:
        self.tokens, self.ruleset, self.companies = tokens, ruleset, companies
        self.jobs: OrderedDict[str, Job] = OrderedDict()

    async def start(self, who: Caller | str | None, body: bytes) -> Answer:
        if (no := denied(self.tokens, who, "write")) is not None:
            return no
        lines = body.splitlines()
        if not any(line.strip() for line in lines):
            return Answer(400, {"error": "the body holds no events: send a JSONL file, one event a line"})
        job = Job(uuid.uuid4().hex[:12], len(lines))
        self.jobs[job.id] = job
        while len(self.jobs) > KEEP:
            self.jobs.popitem(last=False)
        asyncio.get_running_loop().create_task(self._run(job, lines, self.ruleset()))
        return Answer(202, {"id": job.id, "status": f"/api/v1/backtests/{job.id}"})

    async def _run(self, job: Job, lines: list[bytes], ruleset: RuleSet) -> None:
        def counted() -> Iterator[bytes]:
            for line in lines:
                job.read += 1
                yield line

        try:
            job.result = await asyncio.to_thread(backtest.run, counted(), ruleset, self.companies)
            job.state = "done"
        except Exception as exc:  # noqa: BLE001 - reported in the status, the worker goes on
            job.state, job.failure = "failed", f"{type(exc).__name__}: {exc}"
        job.finished = time.time()

    def status(self, who: Caller | str | None, job_id: str) -> Answer:
        if (no := denied(self.tokens, who, "read")) is not None:
            return no
        job = self.jobs.get(job_id)
        return Answer(404, {"error": f"no backtest {job_id}"}) if job is None else Answer(200, job.status())

    def report(self, who: Caller | str | None, job_id: str) -> tuple[Answer | None, str]:
        """(an error answer, "") or (None, the HTML report)."""
        if (no := denied(self.tokens, who, "read")) is not None:
            return no, ""
        job = self.jobs.get(job_id)
        if job is None:
            return Answer(404, {"error": f"no backtest {job_id}"}), ""
        if job.state != "done":
            return Answer(409, {"error": f"backtest {job_id} is {job.state}"}), ""
        return None, report.render(job.result, self.ruleset(), title=f"appwatch backtest {job_id}")

    def install(self, app: faust.App) -> None:
        jobs = self

        @app.page("/api/v1/backtests")
        class StartView(faust.web.View):
            async def post(self, request):
                return reply(self, await jobs.start(caller(request), await request.read()))

        @app.page("/api/v1/backtests/{job_id}")
        class StatusView(faust.web.View):
            async def get(self, request, job_id):
                return reply(self, jobs.status(caller(request), job_id))

        @app.page("/api/v1/backtests/{job_id}/report")
        class ReportView(faust.web.View):
            async def get(self, request, job_id):
                error, html = jobs.report(caller(request), job_id)
                return reply(self, error) if error else self.html(html)
