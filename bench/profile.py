"""Profile the pipeline: where a worker's time goes per event, with numbers.

    python -m bench.profile [--events 100000] [--series 10000] [--seconds 40]

1. In-process micro-benchmarks (no Kafka, no Faust) of the per-event Python work the
   detect agent does: decode + validate, the metrics, the rule on a plain dict.
2. The real worker on a backlog, sampled with py-spy (``--format raw`` for the
   breakdown, and a flamegraph SVG), its CPU per event from /proc; samples are
   classified by what the detect agent was doing (the line of streams/app.py on the
   stack) or by the task they belong to (producer sender, consumer thread, ...).
3. Variants of the worker (bench/variant_worker.py patches a setting in memory):
   throughput and CPU per event of ``shipped`` vs ``batch1`` (Faust
   ``producer_max_batch_size=1``, the Tansu workaround streams/tansu.py ``true_ends``
   replaced), and event -> webhook latency of both at a rate both sustain.

Writes bench/results/profile/{profile.json, profile.md, pyspy.txt, pyspy.svg}.
"""

from __future__ import annotations

import argparse
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
from bench.procs import ROOT, Procs  # noqa: E402
from streams.events import Topics  # noqa: E402

HERE = Path(__file__).resolve().parent
VARIANT = lambda v: ["-m", "bench.variant_worker", "--variant", v]  # noqa: E731


# -- 1. micro-benchmarks ---------------------------------------------------------------------

def micro(records: list[tuple[bytes, bytes]]) -> dict:
    import orjson
    from prometheus_client import CollectorRegistry

    from streams import rules
    from streams.engine import Engine
    from streams.events import decode
    from streams.metrics import StreamMetrics

    values = [v for _, v in records]
    out = {}

    def timed(name, fn):
        t = time.perf_counter()
        fn()
        out[name] = (time.perf_counter() - t) / len(values) * 1e6

    timed("orjson_loads_us", lambda: [orjson.loads(v) for v in values])
    evs = []
    timed("decode_validate_us", lambda: evs.extend(decode(v) for v in values))
    m = StreamMetrics(CollectorRegistry())
    timed("metrics_observe_us", lambda: [m.observe(e) for e in evs])
    eng, state = Engine(rules.load()), {}
    timed("rule_on_dict_us", lambda: [eng.metric(e, state) for e in evs])
    out["python_floor_us"] = out["decode_validate_us"] + out["metrics_observe_us"] + out["rule_on_dict_us"]
    out["events"] = len(values)
    return out


# -- 2. classification of py-spy samples ---------------------------------------------------------

FRAME = re.compile(r"^(?P<fn>.+?) \((?P<file>[^:()]+):(?P<line>\d+)\)$")
_app_lines: list[str] = (ROOT / "streams" / "app.py").read_text().splitlines()

DETECT_LINES = [  # (substring of the streams/app.py line on the stack, category)
    ("stream.events()", "Faust: deliver the next event to the agent (stream machinery)"),
    ("decode(", "decode + validate (orjson, pydantic)"),
    ("metrics.observe", "Prometheus metrics per event"),
    ("engine.metric", None),  # split below: table write vs the rule itself
    ("control.send", "send alerts/heartbeats to the control topic"),
    ("dlq_out.send", "DLQ"),
]


def classify(frames: list[str]) -> str:
    parsed = [FRAME.match(f) for f in frames]
    leaf = parsed[-1]
    if leaf and leaf["fn"].endswith(".select") and "selectors" in leaf["file"]:
        return "idle: waiting in epoll"
    files = [p["file"] for p in parsed if p]
    for i, p in enumerate(parsed):
        if p and p["file"].endswith("streams/app.py") and p["fn"].startswith("create_app.<locals>.detect"):
            text = _app_lines[int(p["line"]) - 1] if int(p["line"]) <= len(_app_lines) else ""
            for needle, cat in DETECT_LINES:
                if needle in text:
                    if cat is not None:
                        return cat
                    deeper = parsed[i + 1:]
                    if any(d and ("faust/tables" in d["file"] or d["fn"].endswith("__setitem__")) for d in deeper):
                        return "Faust table write: windows[key] = state (+ changelog record)"
                    return "the rule: window fold + spike detect (streams/engine, windows, detectors)"
            return "detect agent: other lines"
        if p and p["file"].endswith("streams/app.py") and "dispatch" in p["fn"]:
            return "dispatch agent (alerts topic)"
        if p and p["file"].endswith("streams/app.py") and "control_agent" in p["fn"]:
            return "control agent"
    if any("faust/transport/conductor" in f or "faust/streams" in f or "faust/channels" in f
           or "faust/agents" in f for f in files) and not any("aiokafka/producer" in f for f in files):
        return "Faust: deliver the next event to the agent (stream machinery)"
    if any("aiokafka/producer" in f or "faust/transport/producer" in f for f in files):
        return "Kafka produce: aiokafka sender / Faust producer buffer"
    if any("aiokafka/consumer" in f or "faust/transport/consumer" in f or "mode/threads" in f for f in files):
        return "Kafka fetch: consumer thread (aiokafka fetcher)"
    if any("prometheus_client" in f for f in files):
        return "Prometheus metrics per event"
    if any("aiokafka" in f for f in files):
        return "Kafka client: other (connections, metadata)"
    if any("faust/" in f or "mode/" in f for f in files):
        return "Faust: other services (monitor, commit, timers)"
    if all("asyncio" in f or "runpy" in f or "appwatch" in f or "typer" in f or "click" in f or
           "threading" in f or "<frozen" in f for f in files):
        return "asyncio event loop (scheduling)"
    return "other"


def breakdown(raw: Path, cpu_us_per_event: float) -> dict:
    cats: collections.Counter = collections.Counter()
    leaves: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        if frames and frames[0].startswith(("process ", "thread ")):
            frames = [f for f in frames if not f.startswith(("process ", "thread "))]
        c = int(count)
        cat = classify(frames)
        cats[cat] += c
        leaves[cat][frames[-1]] += c
        total += c
    busy = total - cats.get("idle: waiting in epoll", 0)
    rows = []
    for cat, c in cats.most_common():
        rows.append({"category": cat, "share": c / total,
                     "us_per_event": None if cat.startswith("idle") else c / busy * cpu_us_per_event,
                     "top": [f"{f} {n / total:.1%}" for f, n in leaves[cat].most_common(3)]})
    return {"samples": total, "busy_samples": busy, "rows": rows}


# -- the runs ------------------------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--classify", type=Path, help="only print the breakdown of this py-spy raw file")
    ap.add_argument("--cpu-us", type=float, default=1000.0, help="with --classify: CPU µs per event")
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--rate", type=float, default=150.0, help="events/s of the latency comparison")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "profile")
    args = ap.parse_args()
    if args.classify:
        print(markdown({"micro": {}, "runs": {}, "breakdown": breakdown(args.classify, args.cpu_us)}))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    res: dict = {"events": args.events, "series": args.series, "seconds": args.seconds,
                 "load_avg_start": os.getloadavg()}
    w = workload.spike_workload("x", args.events, args.series)
    res["micro"] = micro(w.records[: min(20_000, len(w))])
    print("micro", json.dumps(res["micro"]), flush=True)
    spy: list[subprocess.Popen] = []
    with embedded() as bootstrap, Procs(args.out / "logs") as procs:
        def topic(tag: str):
            t = Topics(f"{tag}.")
            create_topics(bootstrap, t, 4)
            ends = workload.produce(bootstrap, t.metrics, w.records, 4)
            return t, ends

        runs = {}
        for name, variant, profiled in (("shipped", "shipped", False), ("batch1", "batch1", False),
                                        ("shipped_pyspy", "shipped", True)):
            t, ends = topic(name.replace("_", "-"))

            def started(ws, profiled=profiled):
                if not profiled:
                    return
                d = str(int(args.seconds))
                common = ["--pid", str(ws[0].pid), "-d", d, "-r", "50", "--nonblocking"]
                spy.append(subprocess.Popen(["py-spy", "record", "-f", "raw", "-o", str(args.out / "pyspy.txt"),
                                             *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                spy.append(subprocess.Popen(["py-spy", "record", "-o", str(args.out / "pyspy.svg"), *common],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

            try:
                r, ws = pipeline.run_workers(procs, bootstrap, t.prefix, f"prof-{name}", t.metrics, len(w), ends,
                                             timeout=args.seconds, name=name, argv=VARIANT(variant),
                                             on_started=started)
                procs.stop(*ws, timeout=2)
            finally:
                for s in spy:
                    try:
                        s.wait(args.seconds + 30)
                    except subprocess.TimeoutExpired:
                        s.kill()
            runs[name] = r.summary()
            print(name, json.dumps(runs[name]), flush=True)
        res["runs"] = runs
        if (args.out / "pyspy.txt").exists():
            res["breakdown"] = breakdown(args.out / "pyspy.txt", runs["shipped_pyspy"]["cpu_us_per_event"])

        from bench import latency

        res["latency"] = {}
        for variant in ("shipped", "batch1"):
            create_topics(bootstrap, Topics(f"lat-{variant}."), 4)
            try:
                got = latency.run(bootstrap, procs, f"lat-{variant}.", f"prof-lat-{variant}", series=300,
                                  steps=[(args.rate, 15)], drain=15, argv=VARIANT(variant))[0]
                got.pop("latencies_ms", None)
            except Exception as exc:  # noqa: BLE001
                got = {"error": repr(exc)}
            res["latency"][variant] = got
            print("latency", variant, json.dumps(got), flush=True)
    res["load_avg_end"] = os.getloadavg()
    (args.out / "profile.json").write_text(json.dumps(res, indent=2) + "\n")
    (args.out / "profile.md").write_text(markdown(res))
    print(markdown(res))
    shutil.rmtree(args.out / "logs", ignore_errors=True)
    return 0


def markdown(res: dict) -> str:
    m, runs = res["micro"], res["runs"]
    out = ["| in-process, per event (no Kafka, no Faust) | µs |", "|---|---|"]
    for k in ("orjson_loads_us", "decode_validate_us", "metrics_observe_us", "rule_on_dict_us", "python_floor_us"):
        if k in m:
            out.append(f"| {k[:-3].replace('_', ' ')} | {m[k]:.1f} |")
    out += ["", "| worker run | events/s | µs CPU/event | committed | complete |", "|---|---|---|---|---|"]
    for name, r in runs.items():
        out.append(f"| {name} | {r['events_per_s'] or 0:,.0f} | {r['cpu_us_per_event'] or 0:,.0f} | "
                   f"{r['committed_events']:,} | {r['complete']} |")
    if "breakdown" in res:
        b = res["breakdown"]
        out += ["", f"py-spy, {b['samples']:,} samples ({b['busy_samples']:,} busy):", "",
                "| where | share of samples | µs CPU/event | top frames |", "|---|---|---|---|"]
        for row in b["rows"]:
            us = "-" if row["us_per_event"] is None else f"{row['us_per_event']:,.0f}"
            out.append(f"| {row['category']} | {row['share']:.1%} | {us} | {'; '.join(row['top'])} |")
    out += ["", "| latency at a steady rate | p50 ms | p95 ms | p99 ms | alerts |", "|---|---|---|---|---|"]
    for v, r in res.get("latency", {}).items():
        if "error" in r:
            out.append(f"| {v} | error: {r['error'][:100]} | | | |")
        else:
            out.append(f"| {v} at {r['rate_per_s']:.0f}/s | {r['p50_ms'] or 0:,.0f} | {r['p95_ms'] or 0:,.0f} | "
                       f"{r['p99_ms'] or 0:,.0f} | {r['alerts_received']}/{r['alerts_expected']} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
