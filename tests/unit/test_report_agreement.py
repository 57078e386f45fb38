"""One detector path: the seed story fires the same alerts in the worker, in ``appwatch
backtest`` and in its HTML report.

- the backtest and the report: ``appwatch backtest --events seed.jsonl --report page.html``
  as a user runs it (the seed is ``appwatch demo --export``): the alert JSON lines it
  prints, and the alerts its page lists;
- the worker: the code path of ``appwatch worker`` without a broker, over the same events
  published as ``appwatch demo`` publishes them (history and the malformed records, then
  the live day in steps): ``streams.stage.Stage`` (the detect stage) on records keyed and
  partitioned as the publisher does, its control records through the ``Engine`` calls of
  the control agent (rank, news, seen, sweep, then correlate), then the timers' sweeps.

They must be the same 7 alerts (the story ``tests/e2e/test_demo.py`` waits for): same ids,
rules, labels, windows, and the same related news.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from html.parser import HTMLParser

import orjson
import pytest
from kafka.partitioner.default import murmur2
from prometheus_client import CollectorRegistry

from appwatch.worker.detect import Detect
from connectors import catalog, demo
from core.alert import Alert
from core.events import Topics
from streams import backtest, report, rewind
from streams.metrics import StreamMetrics
from streams.rules import load
from streams.settings import Settings
from streams.stage import Record

EXPECTED = 7
STORY_RULES = Counter(
    {"talent-move": 2, "download-spike": 2, "user-milestone": 1, "rank-number-one": 1, "org-change": 1}
)
PARTITIONS = 3
TOPICS = Topics("seed.")
BATCH = 500  # records per getmany


def identity(a: dict) -> tuple:
    return (a["alert_id"], a["rule"], tuple(sorted(a["labels"].items())), a["window_start"])


def with_context(a: dict) -> tuple:
    return (*identity(a), tuple(c["event_id"] for c in a.get("context") or []))


# -- backtest and report, as a user runs them --------------------------------------------


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """(alerts printed, report page) of ``appwatch backtest --report`` over the seed."""
    tmp = tmp_path_factory.mktemp("agree")
    seed, page = tmp / "seed.jsonl", tmp / "report.html"
    run = [sys.executable, "-m", "appwatch"]
    exported = subprocess.run([*run, "demo", "--export", str(seed)], check=False, capture_output=True, timeout=120)
    assert exported.returncode == 0, exported.stderr.decode()[-2000:]
    done = subprocess.run(
        [*run, "backtest", "--events", str(seed), "--report", str(page)], check=False, capture_output=True, timeout=120
    )
    assert done.returncode == 1, done.stderr.decode()[-2000:]  # the 5 malformed lines
    assert "5 invalid, 7 alerts" in done.stderr.decode()
    return [orjson.loads(line) for line in done.stdout.splitlines()], page.read_text(encoding="utf-8")


class Rows(HTMLParser):
    """The alert rows of the page: id, rule, window and the labels each shows."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[dict] = []
        self._in: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-alert-id" in a:
            self.rows.append(
                {
                    "alert_id": a["data-alert-id"],
                    "rule": a["data-rule"],
                    "window_start": a["data-window-start"],
                    "labels": {},
                    "table": a["id"].split("-")[0],
                }
            )
        elif tag == "span" and a.get("class") == "lab" and self.rows:
            self._in = "lab"

    def handle_data(self, data):
        if self._in == "lab":
            k, _, v = data.partition("=")
            self.rows[-1]["labels"][k] = v
            self._in = None


def listed(page: str) -> list[dict]:
    parser = Rows()
    parser.feed(page)
    parser.close()
    return parser.rows


# -- the worker, without a broker ---------------------------------------------------------


class Worker:
    """The worker's detect part (``appwatch.worker.detect``): its batch stage and its control
    agent's handling of each control record, without a broker."""

    def __init__(self) -> None:
        metrics = StreamMetrics(CollectorRegistry())
        self.detect = Detect(Settings(), TOPICS, metrics, rewind.Checks(), catalog.shipped().companies())
        self.engine, self.stage = self.detect.engine, self.detect.stage.stage
        self.control_state: dict = {}
        self.alerts: list[Alert] = []
        self.dlq: list = []
        self.offsets: Counter = Counter()

    def record(self, topic: str, key: bytes | None, value: bytes) -> Record:
        part = (murmur2(key) & 0x7FFFFFFF) % PARTITIONS if key else 0  # the publisher's partition
        offset = self.offsets[(topic, part)]
        self.offsets[(topic, part)] += 1
        return Record(topic, part, offset, int(time.time() * 1000), key, value)

    def consume(self, records: list[Record]) -> None:
        """``getmany`` batches (records grouped by partition, in offset order)."""
        for i in range(0, len(records), BATCH):
            batch: dict[tuple[str, int], list[Record]] = {}
            for r in records[i : i + BATCH]:
                batch.setdefault((r.topic, r.partition), []).append(r)
            out = self.stage.process(batch)
            self.dlq += out.dlq
            for value in out.control:
                self.control(value)

    def control(self, raw: bytes) -> None:
        """The worker's control agent, one record: the alerts it sends on, correlated."""
        self.alerts += self.detect.control(orjson.loads(raw), self.control_state)

    def timers(self) -> None:
        now = time.time()
        for value in self.stage.sweep(now).control:  # the detect stage's threshold timer
            self.control(value)
        self.control(orjson.dumps({"tick": now}))  # the leader's deadman tick


@pytest.fixture(scope="module")
def worker() -> Worker:
    """The seed as ``appwatch.demo.publish`` sends it, through the worker's code."""
    w = Worker()
    history = [w.record(TOPICS.for_event(ev), ev.key.encode(), ev.to_json()) for ev in demo.history()]
    history += [w.record(TOPICS.prefix + suffix, None, raw) for suffix, raw in demo.malformed()]
    w.consume(history)
    w.timers()
    live = list(demo.live())
    step = len(demo.APPS)
    for i in range(0, len(live), step):
        w.consume([w.record(TOPICS.for_event(ev), ev.key.encode(), ev.to_json()) for ev in live[i : i + step]])
        w.timers()
    return w


# -- the agreement ---------------------------------------------------------------------------


def test_backtest_report_and_worker_fire_the_same_seed_story(cli_run, worker):
    printed, page = cli_run
    fired = [a.model_dump(mode="json") for a in worker.alerts]
    assert len(printed) == len(fired) == EXPECTED
    assert Counter(a["rule"] for a in printed) == STORY_RULES
    backtested = {identity(a) for a in printed}
    assert len(backtested) == EXPECTED  # no alert twice
    assert {identity(a) for a in fired} == backtested
    assert {with_context(a) for a in fired} == {with_context(a) for a in printed}  # the same news

    rows = listed(page)
    assert len(rows) == EXPECTED
    assert {(r["alert_id"], r["rule"], r["window_start"]) for r in rows} == {
        (a["alert_id"], a["rule"], a["window_start"]) for a in printed
    }
    shown = {r["alert_id"]: r["labels"] for r in rows if r["table"] == "alert"}
    assert len(shown) == EXPECTED - STORY_RULES["talent-move"] - STORY_RULES["org-change"]
    for a in printed:
        if a["alert_id"] in shown:
            assert shown[a["alert_id"]] == a["labels"]
    assert len(worker.dlq) == 5 and page.count('<tr><td class="num">') == 5  # the invalid lines


def test_the_report_data_lists_exactly_the_backtest_alerts():
    ruleset = load()
    lines = [e.to_json() for e in demo.events()] + [raw for _, raw in demo.malformed()]
    result = backtest.run(lines, ruleset, catalog.shipped().companies())
    data = report.page(result, ruleset)
    listed_ = data["alerts"] + data["news"]
    assert len(listed_) == EXPECTED
    assert {identity(r) for r in listed_} == {identity(a.model_dump()) for a in result.alerts}
    # one chart per series that fired (spike, milestone, rank), each marker on a listed row
    charts = data["series"]["charts"]
    assert [c["rules"] for c in charts] == ["download-spike", "rank-number-one", "user-milestone"]
    assert sum(len(c["svg"]["markers"]) for c in charts) == len(data["alerts"]) == 4


def test_the_worker_s_folds_explain_the_live_day_as_the_backtest_trace(worker):
    """``Engine.explain`` on the detect stage's own state gives the report's numbers."""
    ruleset = load()
    lines = [e.to_json() for e in demo.events()]
    trace = backtest.run(lines, ruleset, catalog.shipped().companies()).trace
    last = [ev for ev in demo.live() if ev.app_id == "doubao"][-1]
    key = "doubao|all|cn|downloads"
    (state,) = [part for part in worker.stage.state.values() if key in part]
    (seen,) = worker.engine.explain(last, {"series": state})
    assert seen.rule == "download-spike" and seen.series == key
    assert seen.day == trace.days[("download-spike", key)][seen.day.day]
    assert seen.day.total > seen.day.fire_at > seen.day.baseline > 0
