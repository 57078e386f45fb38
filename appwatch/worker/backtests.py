"""Backtests over HTTP: upload events as JSONL or CSV, follow the progress, then get the
alerts and the HTML report. The detectors are the worker's own (``streams.backtest``), over
the rules the worker runs or over an edited rules file sent with the events.

    POST /api/v1/backtests               the events as the body (JSONL; CSV with Content-Type
                                       text/csv), or multipart/form-data: ``file`` (a .csv
                                       name or text/csv type reads as CSV) and optional
                                       ``rules`` (a rules YAML used instead of the running
                                       rules; a bad one is 400 with ``file:line: field:
                                       message`` lines): 202 {"id", "status"}
    GET  /api/v1/backtests/{id}          {"state": running|done|failed, "done", "total",
                                       "events", "duplicates", "alerts", "errors", ...}
    GET  /api/v1/backtests/{id}/report   the HTML report, once done

CSV (docs/events.md): a header row naming event fields, one event per row; an empty cell
leaves its field out; ``value`` and ``rank`` are numbers; ``companies`` and ``people`` are
lists separated by ``|``; a dotted column (``payload.views``) goes into an object; a cell
that starts with ``[`` or ``{`` is JSON. A bad row is reported with its line and field.

The job runs in steps of ``STEP`` lines, each in a thread, so its progress moves while it
runs and the event loop stays free. ``POST /api/v1/rules/check?backtest=24h`` starts one
over the events the broker still holds (``recent``). Starting a backtest costs CPU, so it
needs a write token; reading one a read token. The last ``KEEP`` backtests are kept, in
this worker's memory only.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import NamedTuple

import faust
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from core import yamlfile
from core.auth import Caller, Tokens
from core.events import Topics
from streams import backtest, report, rules, tansu
from streams.rules import RuleSet
from streams.settings import Settings

from ..http import Answer, caller, denied, reply

KEEP = 8  # backtests kept, the oldest dropped first (an upload is at most base.MAX_BODY)
MAX_ERRORS = 200  # invalid lines listed in a status
STEP = 2000  # lines folded per step (then the loop gets its turn and the progress moves)
LISTS = frozenset({"companies", "people"})  # CSV cells split on "|"
NUMBERS: dict[str, Callable[[str], object]] = {"value": float, "rank": int}
Chunk = list[tuple[int, bytes]]  # (line number, one event's JSON)
MAX_RECENT = 2_000_000  # records a backtest over recent history reads at most


@dataclass
class Job:
    id: str
    total: int  # lines (records, over recent history) to read
    done: int = 0
    state: str = "running"
    source: str = "upload"
    rules: str = "running rules"
    ruleset: RuleSet | None = None
    result: backtest.Result | None = None
    failure: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None

    def status(self) -> dict:
        r = self.result
        return {
            "id": self.id,
            "state": self.state,
            "done": self.done,
            "total": self.total,
            "lines": self.total,  # the names before done/total, kept for older clients
            "read": self.done,
            "source": self.source,
            "rules": self.rules,
            "started": self.started,
            "finished": self.finished,
            "events": len(r.events) if r else 0,
            "duplicates": r.duplicates if r else 0,
            "alerts": [a.model_dump(mode="json") for a in r.alerts] if r else [],
            "errors": [{"line": n, "error": msg} for n, msg in r.errors[:MAX_ERRORS]] if r else [],
            "failure": self.failure,
        }


class Upload(NamedTuple):
    body: bytes
    csv: bool = False
    rules: str | None = None  # an edited rules YAML, else the running rules
    fields: dict[str, str] = {}  # the form's other fields (csrf_token)


async def read_upload(request) -> Upload:
    """What a POST carries: a multipart form (``file``, ``rules``), or the events as the body."""
    ctype = request.content_type
    if ctype != "multipart/form-data":
        return Upload(await request.read(), csv=ctype == "text/csv")
    form = await request.post()
    file, body, is_csv = form.get("file"), b"", False
    if isinstance(file, str):
        body = file.encode()
    elif file is not None:
        body = file.file.read()
        is_csv = (file.filename or "").lower().endswith(".csv") or file.content_type == "text/csv"
    text = form.get("rules")
    edited = text if isinstance(text, str) and text.strip() else None
    fields = {k: v for k, v in form.items() if isinstance(v, str) and k not in ("file", "rules")}
    return Upload(body, is_csv, edited, fields)


def parse_rules(text: str) -> RuleSet | Answer:
    """An edited rules YAML, validated: its RuleSet, or 400 with one ``file:line: field:
    message`` per problem."""
    try:
        return yamlfile.parse(text, rules.RuleSet, "<posted rules>")
    except yamlfile.ConfigError as exc:
        return Answer(400, {"errors": str(exc).splitlines()})


def jsonl_chunks(lines: list[bytes]) -> Iterator[Chunk]:
    it = iter(enumerate(lines, 1))
    while chunk := list(islice(it, STEP)):
        yield chunk


def csv_header(text: str) -> tuple[list[str], csv.reader] | str:
    """The header and a reader at the first row, or what is wrong with the header."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    if not any(header):
        return "the CSV has no header row: its first line names the event fields"
    if "" in header:
        return f"line 1: column {header.index('') + 1} has no name"
    if len(set(header)) < len(header):
        dup = next(h for h in header if header.count(h) > 1)
        return f"line 1: column {dup!r} is named twice"
    return header, reader


def _cell(name: str, cell: str) -> object:
    if name in NUMBERS:
        try:
            return NUMBERS[name](cell)
        except ValueError:
            return cell  # the contract's check names the field
    if name in LISTS:
        return [s.strip() for s in cell.split("|") if s.strip()]
    if cell[:1] in ("[", "{"):
        try:
            return orjson.loads(cell)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{name}: not valid JSON ({exc})") from None
    return cell


def csv_row(header: list[str], row: list[str]) -> bytes:
    """One CSV row as one event's JSON; ValueError names the field."""
    if len(row) > len(header):
        raise ValueError(f"row: {len(row)} cells, the header names {len(header)}")
    event: dict = {}
    for name, cell in zip(header, row, strict=False):
        if cell == "":
            continue
        *path, last = name.split(".")
        node = event
        for part in path:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"{name}: {part} is both a value and an object")
        node[last] = _cell(name, cell)
    return orjson.dumps(event)


def csv_chunks(header: list[str], reader, errors: list[tuple[int, str]]) -> Iterator[Chunk]:
    """Rows as numbered event JSON (the line a row starts on); bad rows go to ``errors``."""
    chunk: Chunk = []
    start = reader.line_num + 1
    for row in reader:
        if row and any(c.strip() for c in row):
            try:
                chunk.append((start, csv_row(header, row)))
            except ValueError as exc:
                errors.append((start, str(exc)))
        start = reader.line_num + 1
        if len(chunk) >= STEP:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


async def each(chunks: Iterable[Chunk]) -> AsyncIterator[Chunk]:
    for chunk in chunks:
        yield chunk


async def recent(settings: Settings, topics: Topics, since: float) -> tuple[int, AsyncIterator[Chunk]] | str:
    """The events topics' records from ``since`` (unix seconds, by record time) to their
    ends now: how many, and the records in chunks numbered in the order read. Or why not."""
    tansu_ = settings.broker_flavor == "tansu"
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=tansu.FETCH_MAX_WAIT_MS if tansu_ else 100,
        **settings.aiokafka_config(),
    )
    await consumer.start()
    try:
        await consumer.topics()  # the partitions of every topic
        tps = [TopicPartition(t, p) for t in topics.events for p in sorted(consumer.partitions_for_topic(t) or ())]
        found = await consumer.offsets_for_times({tp: int(since * 1000) for tp in tps}) if tps else {}
        ends = await consumer.end_offsets(tps) if tps else {}
        if tansu_:
            ends = await tansu.true_ends(settings.bootstrap, ends)
    except BaseException:
        await consumer.stop()
        raise
    begin = {tp: found[tp].offset if found.get(tp) else ends[tp] for tp in tps}
    total = sum(max(0, ends[tp] - begin[tp]) for tp in tps)
    if total > MAX_RECENT:
        await consumer.stop()
        return f"the broker holds {total} events in that span, more than {MAX_RECENT}: take a shorter one"
    return total, _read(consumer, begin, ends, topics.metrics)


async def _read(consumer: AIOKafkaConsumer, begin: dict, ends: dict, metrics: str) -> AsyncIterator[Chunk]:
    """Each partition from ``begin`` to ``ends``; in a fetch, ranks and news before metrics
    (as the detect stage folds them). The consumer is stopped at the end."""
    try:
        todo = {tp for tp in begin if ends[tp] > begin[tp]}
        consumer.assign(list(todo))
        for tp in todo:
            consumer.seek(tp, begin[tp])
        n = 0
        while todo:
            batch = await consumer.getmany(*todo, timeout_ms=500)
            chunk: Chunk = []
            for tp, records in sorted(batch.items(), key=lambda kv: kv[0].topic == metrics):
                for r in records:
                    if r.offset < ends[tp]:
                        n += 1
                        chunk.append((n, r.value or b""))
            for tp in list(todo):
                if await consumer.position(tp) >= ends[tp]:
                    todo.discard(tp)
            if chunk:
                yield chunk
    finally:
        await consumer.stop()


class Backtests:
    def __init__(self, tokens: Tokens, ruleset: Callable[[], RuleSet], companies: dict[str, str] | None) -> None:
        self.tokens, self.ruleset, self.companies = tokens, ruleset, companies
        self.jobs: OrderedDict[str, Job] = OrderedDict()

    async def start(
        self, who: Caller | str | None, body: bytes, *, csv: bool = False, rules: str | None = None
    ) -> Answer:
        if (no := denied(self.tokens, who, "write")) is not None:
            return no
        ruleset = self.ruleset() if rules is None else parse_rules(rules)
        if isinstance(ruleset, Answer):
            return ruleset
        run = backtest.Run(ruleset, self.companies)
        if csv:
            source = self._csv(body, run.result.errors)
            if isinstance(source, Answer):
                return source
            total, chunks = source
        else:
            lines = body.splitlines()
            if not any(line.strip() for line in lines):
                return Answer(400, {"error": "the body holds no events: send a JSONL file, one event a line"})
            total, chunks = len(lines), jsonl_chunks(lines)
        job = self.launch(run, total, each(chunks), source="CSV upload" if csv else "JSONL upload")
        job.rules = "running rules" if rules is None else "edited rules"
        return Answer(202, {"id": job.id, "status": f"/api/v1/backtests/{job.id}"})

    def _csv(self, body: bytes, errors: list[tuple[int, str]]) -> tuple[int, Iterator[Chunk]] | Answer:
        try:
            text = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = body[: exc.start].count(b"\n") + 1
            return Answer(400, {"error": f"line {line}: the CSV is not UTF-8"})
        head = csv_header(text)
        if isinstance(head, str):
            return Answer(400, {"error": head})
        header, reader = head
        return len(text.splitlines()), csv_chunks(header, reader, errors)

    def launch(self, run: backtest.Run, total: int, chunks: AsyncIterator[Chunk], source: str) -> Job:
        """A job folding ``chunks`` into ``run``; the caller checked who may start it."""
        job = Job(uuid.uuid4().hex[:12], total, source=source, ruleset=run.ruleset)
        self.jobs[job.id] = job
        while len(self.jobs) > KEEP:
            self.jobs.popitem(last=False)
        asyncio.get_running_loop().create_task(self._run(job, run, chunks))
        return job

    async def _run(self, job: Job, run: backtest.Run, chunks: AsyncIterator[Chunk]) -> None:
        try:
            async for chunk in chunks:
                await asyncio.to_thread(run.feed, chunk)  # one step; the loop runs between
                if chunk:
                    job.done = max(job.done, chunk[-1][0])
            job.result = await asyncio.to_thread(run.finish)
            job.state, job.done = "done", max(job.done, job.total)
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
        return None, report.render(job.result, job.ruleset, title=f"appwatch backtest {job_id}")

    def install(self, app: faust.App) -> None:
        jobs = self

        @app.page("/api/v1/backtests")
        class StartView(faust.web.View):
            async def post(self, request):
                up = await read_upload(request)
                return reply(self, await jobs.start(caller(request), up.body, csv=up.csv, rules=up.rules))

        @app.page("/api/v1/backtests/{job_id}")
        class StatusView(faust.web.View):
            async def get(self, request, job_id):
                return reply(self, jobs.status(caller(request), job_id))

        @app.page("/api/v1/backtests/{job_id}/report")
        class ReportView(faust.web.View):
            async def get(self, request, job_id):
                error, html = jobs.report(caller(request), job_id)
                return reply(self, error) if error else self.html(html)
