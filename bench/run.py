"""The benchmark harness: every figure against a baseline from the same run, same broker.

    python -m bench.run                  # full size (200k events, 10k series), < 10 min
    python -m bench.run --smoke          # a quick pass (60k events, 600 series), < 2 min
    python -m bench.run --events 100000  # another size

Writes ``bench.json``, ``bench.md`` and ``bench.png`` (and ``logs/``) under ``--out``
(default ``bench/results``, ``bench/results/smoke`` with ``--smoke``).

Figures (see bench/README.md for what each measures and how):
 1. baseline: raw aiokafka consumer + json.loads (and orjson) over the N events;
 2. pipeline: the real worker (``python -m appwatch worker``) over the same N events,
    first consume -> last committed offset; ratio to 1 (goal >= 0.35), CPU per event
    (goal <= 20 µs). 1 and 2 run three times, interleaved; the medians count;
 3. head-to-head: the same spike rule in Quix Streams on the same topic (goal >= 1.0);
 4. latency: steady produce rate -> signed webhook, p50/p95/p99 (goal p99 < 100 ms at 1k/s);
 5. memory: worker RSS with the main run's series and days loaded (goal < 300 MB), and
    the restore of that state by a new worker after kill -9 (goal < 5 s);
 6. ingest: file import and HTTP ingest, against a raw producer (goal import >= 15k/s);
 7. growth: throughput, cost per event and RSS from 1k to 100k series, and 2 workers.

The machine is shared: phases that cannot finish in the time budget stop at a cap and
report the rate over what they committed (``complete: false``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):  # `python bench/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from appwatch.broker import TOPIC_CONFIGS, create_topics, embedded  # noqa: E402
from bench import pipeline, workload  # noqa: E402
from bench.procs import Procs  # noqa: E402
from core.events import Topics  # noqa: E402

HERE = Path(__file__).resolve().parent
GOALS = {
    "pipeline_ratio": 0.35,
    "cpu_us": 20.0,
    "quix_ratio": 1.0,
    "p99_ms": 100.0,
    "rss_mb": 300.0,
    "restore_s": 5.0,
    "import_per_s": 15_000,
}


@dataclass
class Config:
    mode: str
    events: int
    series: int
    main_cap: float  # seconds a worker gets on the main topic, each run
    quix_cap: float
    latency_series: int
    latency_steps: list[tuple[float, float]]  # (events/s, seconds); the last is the figure
    latency_drain: float
    import_rows: int
    http_events: int
    growth: list[tuple[int, int, int]] = field(default_factory=list)  # (series, events, workers)
    growth_cap: float = 35.0
    budget: float = 560.0
    startup: float = 12.0  # a worker's start, stop and checks around a run
    runs: int = 3  # interleaved baseline and pipeline runs; the medians count

    def reserve_after(self, phase: str) -> float:
        """Seconds the phases after ``phase`` need (their caps plus start-up)."""
        need = {
            "pipeline": self.runs * (self.main_cap + self.startup),
            "restore": 30.0,
            "quix": self.quix_cap + self.startup,
            "latency": sum(d + self.latency_drain for _, d in self.latency_steps) + self.startup + 5,
            "ingest": 45.0 if self.mode == "full" else 6.0,
            "growth": len(self.growth) * (self.growth_cap + self.startup),
            "end": 10.0 if self.mode == "full" else 4.0,
        }
        names = list(need)
        return sum(need[n] for n in names[names.index(phase) + 1 :])

    @classmethod
    def full(cls) -> Config:
        # growth: the main run is the (10k series, 1 worker) point; the others keep >= 10 days a series
        return cls(
            "full",
            200_000,
            10_000,
            main_cap=60,
            quix_cap=60,
            latency_series=500,
            latency_steps=[(200, 10), (1000, 15)],
            latency_drain=15,
            import_rows=60_000,
            http_events=40_000,
            growth=[(1_000, 100_000, 1), (100_000, 1_000_000, 1), (10_000, 200_000, 2)],
            growth_cap=45,
            budget=600,
            startup=10,
        )

    @classmethod
    def smoke(cls) -> Config:
        # growth: the main run is the (600 series, 1 worker) point
        return cls(
            "smoke",
            60_000,
            600,
            main_cap=15,
            quix_cap=8,
            latency_series=50,
            latency_steps=[(300, 2)],
            latency_drain=4,
            import_rows=1_000,
            http_events=1_000,
            growth=[(200, 20_000, 1), (600, 60_000, 2)],
            growth_cap=8,
            budget=110,
            startup=6,
        )


class Budget:
    def __init__(self, seconds: float) -> None:
        self.seconds, self.t0 = seconds, time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def left(self) -> float:
        return self.seconds - self.elapsed()

    def cap(self, want: float, reserve: float) -> float:
        """``want`` seconds, less (down to half) if the phases still to come (``reserve``
        seconds) would not fit in the budget otherwise."""
        return max(want / 2, min(want, self.left() - reserve))


def _r(x, nd=1):
    return None if x is None else round(x, nd)


# -- 1. baseline --------------------------------------------------------------------------


async def _raw_consume(bootstrap: str, topic: str, n: int, loads) -> float:
    from aiokafka import AIOKafkaConsumer

    c = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
        max_partition_fetch_bytes=4 * 2**20,
    )
    await c.start()
    try:
        got, t0 = 0, None
        deadline = time.monotonic() + 120
        while got < n:
            batch = await c.getmany(timeout_ms=500, max_records=10_000)
            for msgs in batch.values():
                if t0 is None:
                    t0 = time.perf_counter()
                for m in msgs:
                    loads(m.value)
                got += len(msgs)
            if time.monotonic() > deadline:
                raise TimeoutError(f"raw consumer got {got} of {n}")
        return n / (time.perf_counter() - t0)
    finally:
        await c.stop()


def baseline(bootstrap: str, topic: str, n: int) -> dict:
    import orjson

    return {
        "json_per_s": asyncio.run(_raw_consume(bootstrap, topic, n, json.loads)),
        "orjson_per_s": asyncio.run(_raw_consume(bootstrap, topic, n, orjson.loads)),
    }


# -- 3. Quix Streams -------------------------------------------------------------------------


def _create(bootstrap: str, name: str, partitions: int) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-admin")
    try:
        admin.create_topics([NewTopic(name, partitions, 1, topic_configs=TOPIC_CONFIGS)])
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def run_quix(procs: Procs, bootstrap: str, topic: str, n: int, ends: dict, cap: float, work: Path) -> dict:
    alerts = topic.rsplit(".", 2)[0] + ".quix-alerts"
    _create(bootstrap, alerts, 4)
    status, state = work / "quix-status.json", work / "quix-state"
    status.unlink(missing_ok=True)
    shutil.rmtree(state, ignore_errors=True)
    group = "bench-quix"
    q = procs.start(
        "quix",
        [
            "-m",
            "bench.quix_spike",
            "--broker",
            bootstrap,
            "--topic",
            topic,
            "--alerts",
            alerts,
            "--group",
            group,
            "--events",
            str(n),
            "--status",
            str(status),
            "--state-dir",
            str(state),
        ],
        {"PYTHONWARNINGS": "ignore"},
    )

    def first():
        try:
            s = json.loads(status.read_text())
        except (OSError, ValueError):
            return None
        return (time.monotonic() - (time.time() - s["first"]), 0) if "first" in s else None

    probe = workload.Committed(bootstrap)
    try:
        r = pipeline.measure([q], group, topic, n, ends, probe, first, cap, startup_timeout=60)
        try:
            r.counted = json.loads(status.read_text()).get("n")
        except (OSError, ValueError):
            pass
        pipeline.processed_end(r)
    finally:
        probe.close()
        procs.stop(q, timeout=2)
        shutil.rmtree(state, ignore_errors=True)
    return {"run": r, "alerts_topic": alerts}


# -- 1, 2: the medians of the interleaved runs ------------------------------------------------


def median(xs: list[float]) -> float | None:
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2 if xs else None


def main_result(res: dict, runs: list[dict], n: int) -> None:
    """``baseline`` and ``pipeline``: the medians of the runs, each run kept beside them."""
    bases = [r["baseline"] for r in runs if r["baseline"]]
    if bases:
        res["baseline"] = {
            "events": n,
            "json_per_s": median([b["json_per_s"] for b in bases]),
            "orjson_per_s": median([b["orjson_per_s"] for b in bases]),
            "runs": bases,
            "note": f"raw aiokafka getmany + json.loads; the median of {len(bases)} runs, "
            "each just before a pipeline run on its own copy of the topic",
        }
    done = [r for r in runs if r["run"].events_per_s]
    if not done:
        return
    by_rate = sorted(done, key=lambda r: r["run"].events_per_s)
    mid = by_rate[len(by_rate) // 2]
    res["pipeline"] = {
        **mid["run"].summary(),
        "alerts": mid["alerts"],
        "events_per_s": median([r["run"].events_per_s for r in done]),
        "cpu_us_per_event": median([r["run"].cpu_us_per_event for r in done]),
        "rss_end_mb": median([r["run"].rss_end_mb for r in done]),
        "runs": [{**r["run"].summary(), "alerts": r["alerts"]} for r in runs],
        "curve": mid["run"].curve[:: max(1, len(mid["run"].curve) // 200)],
        "note": f"medians of {len(done)} runs (events/s, CPU per event, RSS); the curve and "
        "the other fields are the median run's",
    }


# -- 5. restore after kill -9 ------------------------------------------------------------------


def restore_after_kill(procs: Procs, worker, bootstrap: str, prefix: str, group: str) -> dict:
    """kill -9 a worker that holds the main run's state, start another in its group, and
    read how long its detect stage took to restore that state from the changelog."""
    import httpx

    from bench.procs import metric, start_worker, wait_ready

    worker.popen.kill()
    worker.popen.wait(10)
    started = time.monotonic()
    again = start_worker(procs, "restore-worker", bootstrap, prefix, group)
    ready = wait_ready(again, timeout=120)
    with httpx.Client(timeout=2.0) as client:
        out = {
            "restore_s": metric(client, again, "appwatch_state_restore_seconds"),
            "series_restored": int(metric(client, again, "appwatch_state_restored_total")),
            "restart_to_ready_s": ready - started,
            "note": "restore_s: the new worker's detect stage reading the changelog of its 4 partitions "
            "and rebuilding the series (appwatch_state_restore_seconds); restart_to_ready_s: from "
            "the new process to /healthz ready, which includes Python start-up and the group "
            "waiting for the killed member's session to expire (6 s on Tansu)",
        }
    procs.stop(again, timeout=2)
    return out


# -- 5. memory: the state a window keeps --------------------------------------------------------


def state_equivalence() -> dict:
    """A series' window state after twice the days a window keeps equals its state after
    the last of them: the spike rule keeps its baseline's days + allowed_lateness_days (+
    the day itself). So a worker that has seen that many days of every series holds what
    any longer history would leave."""
    from core.events import decode_fast
    from streams import rules, series, windows
    from streams.engine import Engine

    p = next(r for r in rules.load().rules if r.name == "download-spike").params
    keep = p.lookback + p.allowed_lateness_days + 1
    w = workload.spike_workload("x", 2 * keep, 1, spike_day=7)
    eng = Engine(rules.load())
    full: dict = {}
    for _, v in w.records:
        eng.metric(decode_fast(v), full)
    tail: dict = {}
    eng2 = Engine(rules.load())
    for _, v in w.records[-keep:]:
        eng2.metric(decode_fast(v), tail)
    (key,) = full
    return {
        "retained_days": len(windows.days(full[key].rules["download-spike"])),
        "state_equals_last_days": keep,
        "state_equals": full == tail,
        "state_bytes_per_series": len(series.encode(full[key])),
    }


# -- the harness -------------------------------------------------------------------------------


def code_digest() -> dict:
    """Which code was measured (no git here): a digest of the packages' sources, and the
    newest change among them (other engineers edit them while benchmarks run)."""
    import hashlib

    root = HERE.parent
    files = sorted(p for pkg in ("streams", "alerts", "connectors", "appwatch") for p in (root / pkg).rglob("*.py"))
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    newest = max(files, key=lambda f: f.stat().st_mtime)
    return {
        "sources_sha256": h.hexdigest()[:16],
        "files": len(files),
        "newest": f"{newest.relative_to(root)} "
        f"{datetime.fromtimestamp(newest.stat().st_mtime, UTC).isoformat(timespec='seconds')}",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="a quick pass (< 90 s)")
    ap.add_argument("--events", type=int, help="events in the main run (default 500000; smoke 3000)")
    ap.add_argument("--series", type=int, help="series in the main run (default 10000; smoke 60)")
    ap.add_argument("--budget", type=float, help="seconds for the whole run (default 560; smoke 85)")
    ap.add_argument("--out", type=Path, help="result directory (default bench/results[/smoke])")
    ap.add_argument("--skip", default="", help="comma-separated phases to skip: quix,latency,ingest,growth")
    args = ap.parse_args(argv)
    cfg = Config.smoke() if args.smoke else Config.full()
    cfg = replace(
        cfg, events=args.events or cfg.events, series=args.series or cfg.series, budget=args.budget or cfg.budget
    )
    out = args.out or (HERE / "results" / ("smoke" if args.smoke else ""))
    out.mkdir(parents=True, exist_ok=True)
    work = out / "work"
    work.mkdir(exist_ok=True)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks

    budget = Budget(cfg.budget)
    wait = 2.0 if cfg.mode == "full" else 1.0  # idle time that ends counting alert records
    res: dict = {
        "mode": cfg.mode,
        "command": " ".join(["python -m bench.run", *(argv or sys.argv[1:])]),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        },
        "config": {k: v for k, v in cfg.__dict__.items()},
        "code": code_digest(),
        "errors": {},
    }

    def log(msg: str) -> None:
        print(f"[{budget.elapsed():6.1f}s] {msg}", flush=True)

    def phase(name: str, fn):
        if name in skip:
            res[name] = {"skipped": "--skip"}
            return None
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - one phase failing must not lose the others
            res["errors"][name] = f"{type(exc).__name__}: {exc}"
            log(f"{name} FAILED: {exc}")
            (out / "logs").mkdir(exist_ok=True)
            (out / "logs" / f"{name}.traceback.txt").write_text(traceback.format_exc())
            return None

    logs = out / "logs"
    if logs.exists():
        shutil.rmtree(logs)
    try:
        with embedded(log=None) as bootstrap, Procs(logs) as procs:
            log(f"broker {bootstrap}; mode {cfg.mode}; {cfg.events} events over {cfg.series} series")
            t = time.perf_counter()
            w = workload.spike_workload("", cfg.events, cfg.series)
            n, expected = len(w), w.expected_alerts
            res["workload"] = {
                "events": n,
                "series": w.series,
                "days": w.days,
                **w.meta,
                "expected_alerts": expected,
                "partitions": 4,
                "generate_s": round(time.perf_counter() - t, 2),
            }
            log(f"{n} events over {cfg.series} series; {cfg.runs} interleaved runs of 1 and 2")

            # 1, 2 and 5: baseline and pipeline interleaved, each run on its own copy of the
            # topic (a worker's internal topics are per prefix); then kill -9 and restore
            runs: list = []
            for i in range(cfg.runs):
                main_t = Topics(f"main{i}.")
                create_topics(bootstrap, main_t, 4)
                ends = workload.produce(bootstrap, main_t.metrics, w.records, 4)
                b = phase(f"baseline_{i}", lambda t=main_t: baseline(bootstrap, t.metrics, n))
                log(f"baseline {i}: {b}")

                def main_run(i=i, main_t=main_t, ends=ends):
                    cap = budget.cap(
                        cfg.main_cap,
                        (cfg.runs - i - 1) * (cfg.main_cap + cfg.startup) + cfg.reserve_after("pipeline") + cfg.startup,
                    )
                    r, ws = pipeline.run_workers(
                        procs,
                        bootstrap,
                        main_t.prefix,
                        f"bench-main-{i}",
                        main_t.metrics,
                        n,
                        ends,
                        timeout=cap,
                        name=f"main-worker-{i}",
                    )
                    alerts = len(workload.count_records(bootstrap, main_t.alerts, expected if r.complete else 0, wait))
                    restored = None
                    if i == cfg.runs - 1:
                        restored = phase(
                            "restore",
                            lambda: restore_after_kill(procs, ws[0], bootstrap, main_t.prefix, f"bench-main-{i}"),
                        )
                    procs.stop(*ws, timeout=2)
                    return r, alerts, restored

                got = phase(f"pipeline_{i}", main_run)
                if got:
                    r, alerts, restored = got
                    runs.append({"baseline": b, "run": r, "alerts": alerts})
                    log(
                        f"pipeline {i}: {r.events_per_s and round(r.events_per_s)} ev/s complete={r.complete} "
                        f"cpu/ev={r.cpu_us_per_event:.1f}us rss={r.rss_end_mb:.0f}MB alerts={alerts}"
                    )
                    if restored:
                        res["restore"] = restored
                        log(f"restore after kill -9: {restored}")
            del w
            main_result(res, runs, n)

            # 3. Quix
            def quix():
                cap = budget.cap(cfg.quix_cap, cfg.reserve_after("quix") + cfg.startup)
                log(f"quix: the same rule on {n} events, cap {cap:.0f}s")
                return run_quix(procs, bootstrap, main_t.metrics, n, ends, cap, work)

            if "quix" not in skip:
                q = phase("quix", quix)
                if q:
                    r = q["run"]
                    alerts = len(
                        workload.count_records(bootstrap, q["alerts_topic"], expected if r.complete else 0, wait)
                    )
                    res["quix"] = {**r.summary(), "alerts": alerts, "curve": r.curve[:: max(1, len(r.curve) // 200)]}
                    log(
                        f"quix {r.events_per_s and round(r.events_per_s)} ev/s complete={r.complete} "
                        f"committed={r.committed_events} cpu/ev={r.cpu_us_per_event:.0f}us"
                    )
            else:
                res["quix"] = {"skipped": "--skip"}

            # 4. latency
            def lat():
                from bench import latency

                return latency.run(
                    bootstrap,
                    procs,
                    "lat.",
                    "bench-latency",
                    series=cfg.latency_series,
                    steps=cfg.latency_steps,
                    drain=cfg.latency_drain,
                )

            if "latency" not in skip:
                create_topics(bootstrap, Topics("lat."), 4)
                steps = phase("latency", lat)
                if steps:
                    got = res["latency"] = {**steps[-1], "at_other_rates": steps[:-1]}
                    log(
                        f"latency p50 {_r(got['p50_ms'])} p95 {_r(got['p95_ms'])} p99 {_r(got['p99_ms'])} ms, "
                        f"{got['alerts_received']}/{got['alerts_expected']} alerts"
                    )
            else:
                res["latency"] = {"skipped": "--skip"}

            # 6. ingest
            if "ingest" not in skip:
                from bench import ingest

                imp = phase("ingest_import", lambda: ingest.run_import(bootstrap, cfg.import_rows, work, "ing-"))
                http = phase("ingest_http", lambda: ingest.run_http(bootstrap, procs, cfg.http_events))
                res["ingest"] = {"import": imp, "http": http}
                if imp and http:
                    http["ratio_to_raw_producer"] = http["http_per_s"] / imp["raw_producer_per_s"]
                log(
                    f"ingest import {imp and round(imp['import_2_workers_per_s'])}/s "
                    f"http {http and round(http['http_per_s'])}/s"
                )
            else:
                res["ingest"] = {"skipped": "--skip"}

            # 7. growth
            if "growth" not in skip:
                points = []
                for i, (series, events, workers) in enumerate(cfg.growth):

                    def one(series=series, events=events, workers=workers, i=i):
                        left_points = len(cfg.growth) - i - 1
                        cap = budget.cap(
                            cfg.growth_cap,
                            left_points * (cfg.growth_cap + cfg.startup) + cfg.reserve_after("growth") + cfg.startup,
                        )
                        t = Topics(f"g{i}.")
                        create_topics(bootstrap, t, 4)
                        gw = workload.spike_workload(t.metrics, events, series)
                        gends = workload.produce(bootstrap, t.metrics, gw.records, 4)
                        gn = len(gw)
                        del gw
                        r, ws = pipeline.run_workers(
                            procs,
                            bootstrap,
                            t.prefix,
                            f"bench-g{i}",
                            t.metrics,
                            gn,
                            gends,
                            workers=workers,
                            timeout=cap,
                            name=f"growth{i}",
                        )
                        procs.stop(*ws, timeout=2)
                        return {
                            "series": series,
                            "workers": workers,
                            **r.summary(),
                            "series_loaded": min(series, r.committed_events),
                        }

                    p = phase(f"growth_{series}x{workers}", one)
                    if p:
                        points.append(p)
                        log(
                            f"growth {series} series x{workers}: {p['events_per_s'] and round(p['events_per_s'])} ev/s "
                            f"cpu/ev {p['cpu_us_per_event']:.0f}us rss {p['rss_end_mb']:.0f}MB"
                        )
                res["growth"] = {"points": points}
            else:
                res["growth"] = {"skipped": "--skip"}

    finally:
        res["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
        if code_digest()["sources_sha256"] != res["code"]["sources_sha256"]:
            res["code"]["changed_during_run"] = code_digest()
        res["duration_s"] = round(budget.elapsed(), 1)
        shutil.rmtree(work, ignore_errors=True)

    res["memory"] = phase("memory", lambda: memory_figure(res))
    from bench import report

    report.derive(res, GOALS)
    files = report.write(res, out)
    res["files"] = {k: str(v) for k, v in files.items()}
    (out / "bench.json").write_text(json.dumps(res, indent=2, default=str) + "\n")
    print((out / "bench.md").read_text())
    log(f"wrote {', '.join(str(f) for f in files.values())}")
    return 0


def memory_figure(res: dict) -> dict:
    eq = state_equivalence()
    p = res.get("pipeline") or {}
    wl = res.get("workload") or {}
    series = wl.get("series", 0)
    done = p.get("committed_events", 0)
    days = done / series if series else 0
    return {
        "rss_idle_mb": p.get("rss_idle_mb"),
        "rss_mb": p.get("rss_end_mb"),
        "rss_peak_mb": p.get("rss_peak_mb"),
        "series": series,
        "days_loaded": round(days, 2),
        **eq,
        "full_state_loaded": days >= eq["retained_days"],
        "note": "RSS of the main run's worker at its end; a window keeps "
        f"{eq['retained_days']} days, so >= {eq['retained_days']} days loaded is the state "
        "any longer history leaves",
    }


if __name__ == "__main__":
    raise SystemExit(main())
