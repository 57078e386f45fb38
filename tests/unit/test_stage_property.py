"""The detect stage against backtest: any batching, duplicates, crashes and replays.

The stage (``streams.stage.Stage``, the Kafka-free core of the worker's detect stage) is
driven by a model of Kafka: one log per partition, committed offsets, a changelog per
partition. A crash can hit at any point of writing a batch out (before the control
records, after some of them, after some of the changelog records, before the commit);
the next stage restores from the changelog and replays from the committed offsets, with
different batches. Whatever happens, the distinct series alerts it writes to the control
topic equal those of ``appwatch backtest`` over the input without its duplicates.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.events import Topics
from core.yamlfile import parse
from streams import backtest
from streams.engine import Engine
from streams.rules import RuleSet
from streams.stage import Record, Stage

TOPICS = Topics("p.")
PARTITIONS = 3
START = datetime(2024, 11, 1, tzinfo=timezone(timedelta(hours=8)))
RULES = parse(
    """
rules:
  - name: download-spike
    kind: spike
    match: {metric: downloads}
    params: {ratio: 2.0, baseline_days: 4, min_history: 3, min_baseline: 100}
  - name: drop
    kind: change
    match: {metric: downloads}
    params: {pct: 40, direction: both, min_baseline: 100}
  - name: dau-high
    kind: threshold
    match: {metric: dau}
    params: {value: 500, for: 2h}
  - name: dau-milestone
    kind: milestone
    match: {metric: dau}
    params: {values: [300, 600, 900]}
""",
    RuleSet,
    "<stage property rules>",
)


def event(app: str, metric: str, day: int, hour: int, value: float, mode: str, n: int) -> bytes:
    ts = (START + timedelta(days=day, hours=hour)).isoformat()
    return orjson.dumps(
        dict(
            event_id=f"{app}:{metric}:{n}",
            type="app.metric",
            source="prop",
            ts=ts,
            app_id=app,
            platform="all",
            country="cn",
            metric=metric,
            value=value,
            period="day",
            mode=mode,
        )
    )


@st.composite
def stories(draw):
    """Events of a few series in time order per series, interleaved at random, then
    published with duplicates (a copy of an earlier event, later in the log)."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    per_series = []
    for i in range(draw(st.integers(1, 4))):
        app = f"app{i}"
        metric = draw(st.sampled_from(["downloads", "dau"]))
        mode = draw(st.sampled_from(["total", "delta"])) if metric == "downloads" else "total"
        base = draw(st.integers(100, 1000))
        evs, n = [], 0
        for day in range(draw(st.integers(3, 12))):
            factor = draw(st.sampled_from([1.0, 1.0, 1.0, 0.4, 2.5, 3.0]))
            for hour in sorted(draw(st.lists(st.integers(0, 23), min_size=1, max_size=3, unique=True))):
                value = round(base * factor * rng.uniform(0.9, 1.1) / (3 if mode == "delta" else 1), 1)
                if metric == "dau":
                    value = round(draw(st.sampled_from([0.3, 0.7, 1.2])) * 700, 1)
                evs.append(event(app, metric, day, hour, value, mode, n))
                n += 1
        per_series.append(evs)
    log = []
    while any(per_series):
        s = rng.choice([s for s in per_series if s])
        log.append(s.pop(0))
    for _ in range(draw(st.integers(0, len(log) // 3 + 1))):
        i = rng.randrange(len(log))
        log.insert(rng.randrange(i, len(log)) + 1, log[i])  # a repeat, after the first one
    return log, rng


def partition_of(raw: bytes) -> int:
    return int(orjson.loads(raw)["app_id"][3:]) % PARTITIONS


class Kafka:
    """Input logs, committed offsets and the changelog, as a broker would keep them."""

    def __init__(self, log: list[bytes]) -> None:
        self.logs: dict[int, list[Record]] = {p: [] for p in range(PARTITIONS)}
        for raw in log:
            p = partition_of(raw)
            ts = int(datetime.fromisoformat(orjson.loads(raw)["ts"]).timestamp() * 1000)
            self.logs[p].append(Record(TOPICS.metrics, p, len(self.logs[p]), ts, b"k", raw))
        self.committed = {p: 0 for p in range(PARTITIONS)}
        self.clock = max((r.timestamp / 1000 for log in self.logs.values() for r in log), default=0.0)
        self.changelog: dict[int, list[tuple[bytes, bytes]]] = {p: [] for p in range(PARTITIONS)}
        self.control: list[bytes] = []


def new_stage(kafka: Kafka) -> Stage:
    stage = Stage(Engine(RULES), TOPICS)
    for p in range(PARTITIONS):
        stage.restore(p, kafka.changelog[p])
    return stage


def run(kafka: Kafka, rng: random.Random, crash_rate: float) -> None:
    """Batches as they come; every so often a commit: the changed series to the changelog,
    then the offsets. A crash restarts from what the broker has."""
    stage = new_stage(kafka)
    pos, dirty, pending = dict(kafka.committed), {}, {}
    while any(pos[p] < len(kafka.logs[p]) for p in pos) or pending:
        batch = {}
        for p in range(PARTITIONS):
            take = rng.randint(0, 6)
            if take and pos[p] < len(kafka.logs[p]):
                batch[p] = kafka.logs[p][pos[p] : pos[p] + take]
                pos[p] += len(batch[p])
        out = stage.process(batch)
        crash = rng.random() < crash_rate
        phase = rng.choice(["control", "changelog", "commit"]) if crash else "none"
        cut = rng.random()
        # the batch's control records (alerts) go out at once; a crash may cut them short
        kafka.control += out.control[: int(len(out.control) * cut)] if phase == "control" else out.control
        if phase == "control":
            return run(kafka, rng, crash_rate / 2)
        for p, keys in out.changed.items():
            dirty.setdefault(p, set()).update(keys)
        for (_, p), offset in out.offsets.items():
            pending[p] = offset
        at_end = all(pos[p] == len(log) for p, log in kafka.logs.items())
        if phase == "none" and not at_end and rng.random() < 0.6:
            continue  # not time to commit yet
        # the commit: each changed series to the changelog (a crash may leave a prefix of
        # each partition's records), then the offsets
        for p, recs in stage.changelog(dirty).items():
            kafka.changelog[p] += recs[: int(len(recs) * cut)] if phase == "changelog" else recs
        if phase in ("changelog", "commit"):
            return run(kafka, rng, crash_rate / 2)
        kafka.committed.update(pending)
        dirty, pending = {}, {}
    # the timer, once everything is read: a threshold breach that no later event of its own
    # series judged fires now (backtest fires it when its event-time clock passes)
    out = stage.sweep(kafka.clock)
    kafka.control += out.control
    for p, recs in stage.changelog(out.changed).items():
        kafka.changelog[p] += recs


def distinct(alerts) -> dict[tuple[str, str], tuple]:
    out = {}
    for a in alerts:
        out.setdefault((a.alert_id, a.status), (a.rule, a.value, a.baseline, a.window_start, a.late))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stories(), st.sampled_from([0.0, 0.1, 0.3]))
def test_stage_alerts_equal_backtest_over_the_deduplicated_input(story, crash_rate):
    log, rng = story
    kafka = Kafka(log)
    run(kafka, rng, crash_rate)
    from core.alert import Alert

    got = distinct(Alert.model_validate(orjson.loads(c)["alert"]) for c in kafka.control if b'"alert"' in c[:10])
    unique = list(dict.fromkeys(log))  # first occurrences, in order
    want = distinct(backtest.run(unique, RULES).alerts)
    assert got == want
    # and backtest itself: the input with its repeats fires the same, each alert once
    again = backtest.run(log, RULES)
    assert distinct(again.alerts) == want
    assert len(again.alerts) == len({(a.alert_id, a.status) for a in again.alerts})
    assert again.duplicates == len(log) - len(unique) and len(again.events) == len(unique)
