"""Where the detect stage's µs go, step by step, and in the real worker with py-spy.

    python -m bench.profile [--events 1000000] [--series 10000]

1. Steps, in this process, on the bench workload (a steady state: every series already
   has history): the raw fetch (aiokafka ``getmany``, no decode), the decoders, the fold
   (``Engine.metric`` on decoded events), the metrics, the changelog records of a commit
   (encode, append to a record batch) and the produce of those batches to the broker.
2. The real worker (``python -m appwatch worker``) on the backlog under py-spy: the
   samples are put in categories by the frames on their stack, and turned into µs per
   event with the worker's CPU per event from /proc.

Writes bench/results/profile/{profile.json, profile.md, pyspy.txt, pyspy.svg}; PROFILE.md
reads them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appwatch.broker import create_topics, embedded  # noqa: E402
from bench import pipeline, workload  # noqa: E402
from bench.procs import Procs  # noqa: E402
from core.events import Topics  # noqa: E402

HERE = Path(__file__).resolve().parent
BATCH = 10_000  # records per batch, as the stage's getmany
STEP_EVENTS = 200_000  # events the in-process steps take (the profiled run takes them all)


# -- 1. steps ---------------------------------------------------------------------------------


def _per_event(fn, n: int) -> float:
    """µs per event of ``fn()`` (which handles ``n`` events): the best of three."""
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best / n * 1e6


def steps(records: list[tuple[bytes, bytes]], bootstrap: str, topic: str) -> dict:
    import orjson
    from prometheus_client import CollectorRegistry

    from connectors import catalog
    from core.events import Topics as T
    from core.events import decode, decode_fast
    from streams import rules, series
    from streams.engine import Engine
    from streams.metrics import StreamMetrics
    from streams.stage import Record, Stage

    records = records[:STEP_EVENTS]
    values = [v for _, v in records]
    n = len(values)
    half = n // 2
    out: dict = {"events": n}
    out["fetch_getmany_us"] = asyncio.run(_fetch(bootstrap, topic, n))
    out["json_loads_us"] = _per_event(lambda: [json.loads(v) for v in values], n)
    out["orjson_loads_us"] = _per_event(lambda: [orjson.loads(v) for v in values], n)
    out["pydantic_decode_us"] = _per_event(lambda: [decode(v) for v in values[:20_000]], min(n, 20_000))
    out["decode_fast_us"] = _per_event(lambda: [decode_fast(v) for v in values], n)

    def fresh():
        registry = CollectorRegistry()
        companies = catalog.shipped().companies()
        return Stage(Engine(rules.load(), companies), T("p."), StreamMetrics(registry, frozenset(companies)))

    recs = [
        Record("p.events.metrics", workload.partition_of(k, 4), i, 1_733_000_000_000, k, v)
        for i, (k, v) in enumerate(records)
    ]
    batches = []
    for i in range(0, n, BATCH):
        b: dict = {}
        for r in recs[i : i + BATCH]:
            b.setdefault(r.partition, []).append(r)
        batches.append(b)
    # the fold on decoded events, in the second half (every series has its history by then)
    events = [decode_fast(v) for v in values]
    eng, state = Engine(rules.load()), {}
    for ev in events[:half]:
        eng.metric(ev, state)
    t = time.process_time()
    changed: set = set()
    for i, ev in enumerate(events[half:]):
        eng.metric(ev, state, observed_at=None, offset=i, changed=changed)
    out["fold_us"] = (time.process_time() - t) / (n - half) * 1e6
    # the whole of Stage.process (decode, fold, metrics, control records), second half
    stage = fresh()
    for b in batches[: len(batches) // 2]:
        stage.process(b)
    rest = batches[len(batches) // 2 :]
    t = time.process_time()
    outs = [stage.process(b) for b in rest]
    out["stage_process_us"] = (time.process_time() - t) / sum(len(rs) for b in rest for rs in b.values()) * 1e6
    # a commit: the changelog records of every series changed since the last one
    dirty: dict = {}
    for o in outs:
        for part, keys in o.changed.items():
            dirty.setdefault(part, set()).update(keys)
    t = time.process_time()
    cl = stage.changelog(dirty)
    out["changelog_encode_us_per_series"] = (time.process_time() - t) / sum(map(len, cl.values())) * 1e6
    out["series_state_bytes"] = sum(len(v) for recs_ in cl.values() for _, v in recs_) / sum(map(len, cl.values()))
    out["changelog_produce_us_per_series"] = asyncio.run(_produce(bootstrap, cl))
    out["series_per_commit_at_full_rate"] = len({k for keys in dirty.values() for k in keys})
    out["events_per_series_between_commits"] = (n - half) / max(1, out["series_per_commit_at_full_rate"])
    out["state_objects_bytes_per_series"] = _size_per_series(stage)
    _ = series  # imported for its encoder via Stage.changelog
    return out


async def _fetch(bootstrap: str, topic: str, n: int) -> float:
    """µs of CPU per record for aiokafka getmany alone (no decode)."""
    from aiokafka import AIOKafkaConsumer

    c = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
    )
    await c.start()
    try:
        got, t = 0, time.process_time()
        while got < n:
            batch = await c.getmany(timeout_ms=500, max_records=BATCH)
            got += sum(len(v) for v in batch.values())
        return (time.process_time() - t) / n * 1e6
    finally:
        await c.stop()


async def _produce(bootstrap: str, changelog: dict) -> float:
    """µs of CPU per changelog record to build record batches and send them (acks=all)."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic("profile-changelog", 4, 1, topic_configs={"retention.ms": "-1"})])
    await admin.close()
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=512 * 1024)
    await p.start()
    try:
        t, futures, count = time.process_time(), [], 0
        for part, records in changelog.items():
            batch = p.create_batch()
            for k, v in records:
                if batch.append(key=k, value=v, timestamp=None) is None:
                    batch.close()
                    futures.append(await p.send_batch(batch, "profile-changelog", partition=part))
                    batch = p.create_batch()
                    batch.append(key=k, value=v, timestamp=None)
                count += 1
            batch.close()
            futures.append(await p.send_batch(batch, "profile-changelog", partition=part))
        await asyncio.gather(*futures)
        return (time.process_time() - t) / count * 1e6
    finally:
        await p.stop()


def _size_per_series(stage) -> float:
    """Bytes of Python objects per series state (tracemalloc over a rebuild from the changelog)."""
    import tracemalloc

    records = stage.changelog({p: list(s) for p, s in stage.state.items()})
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for part, recs in records.items():
        stage.restore(part, recs)
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return size / max(1, stage.series_count())


# -- 2. py-spy of the worker --------------------------------------------------------------------

FRAME = re.compile(r"^(?P<fn>.+?) \((?P<file>[^:()]+):(?P<line>\d+)\)$")
CATEGORIES = [  # (test on a frame's file and function, category): the frame nearest the leaf decides
    (lambda f, fn: "aiokafka/producer" in f, "Kafka produce (aiokafka: changelog, control, commits)"),
    (
        lambda f, fn: "aiokafka/consumer/fetcher" in f or "aiokafka/record" in f,
        "Kafka fetch (aiokafka fetcher, record parsing)",
    ),
    (lambda f, fn: "aiokafka" in f, "Kafka client: other (connections, coordinator, protocol)"),
    (lambda f, fn: f.endswith("core/events.py"), "decode (msgspec, memoised checks)"),
    (lambda f, fn: f.endswith(("streams/windows.py", "detectors/spike.py")), "fold: day window, baseline, judge"),
    (lambda f, fn: f.endswith("streams/engine.py"), "fold: Engine.metric (dedup, rules, series)"),
    (
        lambda f, fn: f.endswith("streams/series.py") or fn.startswith("Stage.changelog"),
        "commit: encode changed series",
    ),
    (lambda f, fn: f.endswith("streams/metrics.py") or "prometheus_client" in f, "metrics (once per batch)"),
    (
        lambda f, fn: f.endswith("streams/stage.py") and fn.startswith(("Stage.", "Stage._")),
        "stage: per-record loop (process)",
    ),
    (lambda f, fn: f.endswith("streams/stage.py"), "stage: I/O glue (send, commit, rebalance)"),
    (
        lambda f, fn: "faust/" in f or "mode/" in f or f.endswith(("streams/app.py", "alerts/pipeline.py")),
        "Faust: control, dispatch, timers, its own consumer thread",
    ),
]


def classify(frames: list[str]) -> str:
    parsed = [m for m in map(FRAME.match, frames) if m]
    if parsed and parsed[-1]["fn"].endswith(".select") and "selectors" in parsed[-1]["file"]:
        return "idle: waiting in epoll"
    for p in reversed(parsed):
        for test, cat in CATEGORIES:
            if test(p["file"], p["fn"]):
                return cat
    return "asyncio event loop and other"


def breakdown(raw: Path, cpu_us_per_event: float) -> dict:
    cats: collections.Counter = collections.Counter()
    leaves: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        c = int(count)
        cat = classify(frames)
        cats[cat] += c
        leaves[cat][frames[-1] if frames else "?"] += c
        total += c
    busy = total - cats.get("idle: waiting in epoll", 0)
    rows = [
        {
            "category": cat,
            "share_of_busy": c / busy if not cat.startswith("idle") else None,
            "us_per_event": None if cat.startswith("idle") else c / busy * cpu_us_per_event,
            "top": [f"{f} {k / total:.1%}" for f, k in leaves[cat].most_common(3)],
        }
        for cat, c in cats.most_common()
    ]
    return {"samples": total, "busy_samples": busy, "rows": rows}


def profiled_run(w, bootstrap: str, procs: Procs, out: Path, seconds: float) -> dict:
    t = Topics("prof.")
    create_topics(bootstrap, t, 4)
    ends = workload.produce(bootstrap, t.metrics, w.records, 4)
    spy: list[subprocess.Popen] = []

    def started(ws):
        common = ["--pid", str(ws[0].pid), "-d", str(int(seconds)), "-r", "200", "--nonblocking"]
        spy.append(
            subprocess.Popen(
                ["py-spy", "record", "-f", "raw", "-o", str(out / "pyspy.txt"), *common],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        spy.append(
            subprocess.Popen(
                ["py-spy", "record", "-o", str(out / "pyspy.svg"), *common],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    try:
        r, ws = pipeline.run_workers(
            procs,
            bootstrap,
            t.prefix,
            "prof",
            t.metrics,
            len(w),
            ends,
            timeout=seconds,
            name="profiled",
            on_started=started,
        )
        procs.stop(*ws, timeout=2)
    finally:
        for s in spy:
            try:
                s.wait(seconds + 30)
            except subprocess.TimeoutExpired:
                s.kill()
    return r.summary()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=30.0, help="cap of the profiled run")
    ap.add_argument("--classify", type=Path, help="only print the breakdown of this py-spy raw file")
    ap.add_argument("--cpu-us", type=float, default=10.0, help="with --classify: CPU µs per event")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "profile")
    args = ap.parse_args()
    if args.classify:
        print(markdown({"breakdown": breakdown(args.classify, args.cpu_us)}))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    res: dict = {
        "command": " ".join(["python -m bench.profile", *sys.argv[1:]]),
        "events": args.events,
        "series": args.series,
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
    }
    w = workload.spike_workload("", args.events, args.series)
    with embedded() as bootstrap, Procs(args.out / "logs") as procs:
        t = Topics("steps.")
        create_topics(bootstrap, t, 4)
        workload.produce(bootstrap, t.metrics, w.records, 4)
        res["steps"] = steps(w.records, bootstrap, t.metrics)
        print("steps", json.dumps(res["steps"]), flush=True)
        res["run"] = profiled_run(w, bootstrap, procs, args.out, args.seconds)
        print("run", json.dumps(res["run"]), flush=True)
    if (args.out / "pyspy.txt").exists():
        res["breakdown"] = breakdown(args.out / "pyspy.txt", res["run"]["cpu_us_per_event"])
    res["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    (args.out / "profile.json").write_text(json.dumps(res, indent=2) + "\n")
    (args.out / "profile.md").write_text(markdown(res))
    print(markdown(res))
    shutil.rmtree(args.out / "logs", ignore_errors=True)
    return 0


def markdown(res: dict) -> str:
    out = []
    s = res.get("steps")
    if s:
        out += [
            f"Steps, in process, µs per event (CPU, best of 3; {s['events']:,} events):",
            "",
            "| step | µs |",
            "|---|---|",
        ]
        for k, label in (
            ("fetch_getmany_us", "aiokafka getmany, no decode"),
            ("json_loads_us", "json.loads (the baseline's decode)"),
            ("orjson_loads_us", "orjson.loads"),
            ("pydantic_decode_us", "decode (pydantic)"),
            ("decode_fast_us", "decode_fast (msgspec)"),
            ("fold_us", "fold: Engine.metric on a decoded event"),
            ("stage_process_us", "Stage.process: decode + fold + metrics + control"),
            ("changelog_encode_us_per_series", "commit: encode one changed series"),
            ("changelog_produce_us_per_series", "commit: batch and produce one series record"),
        ):
            if k in s:
                out.append(f"| {label} | {s[k]:.2f} |")
        out += [
            "",
            f"A series record is {s['series_state_bytes']:.0f} bytes; a series state "
            f"{s['state_objects_bytes_per_series']:,.0f} bytes of Python objects.",
        ]
    r = res.get("run")
    if r:
        out += [
            "",
            f"Worker on the backlog: {r['events_per_s'] or 0:,.0f} events/s, "
            f"{r['cpu_us_per_event'] or 0:.1f} µs CPU/event, {r['committed_events']:,} committed, "
            f"complete {r['complete']}.",
        ]
    b = res.get("breakdown")
    if b:
        out += [
            "",
            f"py-spy, {b['samples']:,} samples ({b['busy_samples']:,} busy):",
            "",
            "| where | share of busy | µs CPU/event | top frames |",
            "|---|---|---|---|",
        ]
        for row in b["rows"]:
            us = "-" if row["us_per_event"] is None else f"{row['us_per_event']:.2f}"
            share = "-" if row["share_of_busy"] is None else f"{row['share_of_busy']:.1%}"
            out.append(f"| {row['category']} | {share} | {us} | {'; '.join(row['top'])} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
