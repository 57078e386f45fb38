"""Derived figures (ratios, goals), the Markdown table and the PNG plot of a harness run."""

from __future__ import annotations

from pathlib import Path


def _get(d: dict | None, *path, default=None):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return default
        d = d[p]
    return d


def _div(a, b):
    return a / b if a is not None and b else None


def derive(res: dict, goals: dict) -> None:
    """Add ratios and the goals table to ``res`` (in place)."""
    base = _get(res, "baseline", "json_per_s")
    base_or = _get(res, "baseline", "orjson_per_s")
    p, q = res.get("pipeline"), res.get("quix")
    if p and "events_per_s" in p:
        p["ratio_to_baseline"] = _div(p["events_per_s"], base)
        p["ratio_to_orjson_baseline"] = _div(p["events_per_s"], base_or)
    if q and "events_per_s" in q:
        q["ratio_to_baseline"] = _div(q["events_per_s"], base)
    h2h = {"error": _get(res, "errors", "quix")}
    if p and q and p.get("events_per_s") and q.get("events_per_s"):
        h2h.update(
            ratio=p["events_per_s"] / q["events_per_s"],
            cpu_ratio=_div(q.get("cpu_us_per_event"), p.get("cpu_us_per_event")),
            note="ratio: events/s, appwatch / Quix; cpu_ratio: Quix CPU per event / appwatch CPU "
            "per event (higher is better for appwatch, and less disturbed by other load)",
        )
    res["head_to_head"] = h2h

    growth = res.get("growth")
    if isinstance(growth, dict) and "points" in growth:
        pts = list(growth["points"])
        if p and p.get("events_per_s"):
            pts.insert(
                0,
                {
                    "series": _get(res, "workload", "series"),
                    "workers": 1,
                    "main_run": True,
                    **{
                        k: p.get(k)
                        for k in (
                            "events_per_s",
                            "cpu_us_per_event",
                            "rss_end_mb",
                            "complete",
                            "committed_events",
                            "counted",
                            "elapsed_s",
                        )
                    },
                },
            )
        for pt in pts:
            pt["ratio_to_baseline"] = _div(pt.get("events_per_s"), base)
        growth["points"] = sorted(pts, key=lambda x: (x["workers"], x["series"] or 0))
        one = [x["cpu_us_per_event"] for x in pts if x["workers"] == 1 and x.get("cpu_us_per_event")]
        if len(one) >= 2:
            growth["cpu_per_event_spread"] = max(one) / min(one)
        two = [x for x in pts if x["workers"] == 2]
        same = [x for x in pts if x["workers"] == 1 and two and x["series"] == two[0]["series"]]
        if two and same and same[0].get("events_per_s"):
            growth["two_workers_speedup"] = _div(two[0].get("events_per_s"), same[0]["events_per_s"])
            growth["two_workers_cpu_per_event_ratio"] = _div(
                two[0].get("cpu_us_per_event"), same[0].get("cpu_us_per_event")
            )

    lat, mem, ing = res.get("latency"), res.get("memory"), res.get("ingest")
    imp = _get(ing, "import")
    rows = []

    def row(fig, value, goal, met, unit=""):
        rows.append(
            {"figure": fig, "value": value, "unit": unit, "goal": goal, "met": None if value is None else bool(met)}
        )

    pr = _get(p, "ratio_to_baseline")
    row(
        "2. pipeline / raw aiokafka+json.loads",
        pr,
        f">= {goals['pipeline_ratio']}",
        pr is not None and pr >= goals["pipeline_ratio"],
    )
    cpu = _get(p, "cpu_us_per_event")
    row(
        "2. worker CPU per event", cpu, f"<= {goals['cpu_us']:.0f} µs", cpu is not None and cpu <= goals["cpu_us"], "µs"
    )
    hr = h2h.get("ratio")
    row(
        "3. appwatch / Quix Streams (events/s)",
        hr,
        f">= {goals['quix_ratio']}",
        hr is not None and hr >= goals["quix_ratio"],
    )
    p99 = _get(lat, "p99_ms")
    row("4. event -> webhook p99", p99, f"< {goals['p99_ms']:.0f} ms", p99 is not None and p99 < goals["p99_ms"], "ms")
    rss = _get(mem, "rss_mb")
    row(
        "5. worker RSS, main run's series loaded",
        rss,
        f"< {goals['rss_mb']:.0f} MB",
        rss is not None and rss < goals["rss_mb"],
        "MB",
    )
    rst = _get(res, "restore", "restore_s")
    row(
        "5. restore of the main run's series after kill -9",
        rst,
        f"< {goals['restore_s']:.0f} s",
        rst is not None and rst < goals["restore_s"],
        "s",
    )
    imp2 = _get(imp, "import_2_workers_per_s")
    row(
        "6. file import (2 workers, the default)",
        imp2,
        f">= {goals['import_per_s']:,}/s",
        imp2 is not None and imp2 >= goals["import_per_s"],
        "/s",
    )
    spread = _get(growth, "cpu_per_event_spread")
    row("7. CPU per event, most / least series", spread, "flat (<= 1.5)", spread is not None and spread <= 1.5)
    res["goals"] = rows


def _fmt(x, nd=0, unit=""):
    if x is None:
        return "n/a"
    if isinstance(x, float) and abs(x) < 10 and nd == 0:
        nd = 2
    return f"{x:,.{nd}f}{unit}"


def markdown(res: dict) -> str:
    b = res.get("baseline") or {}
    p, q, lat = res.get("pipeline") or {}, res.get("quix") or {}, res.get("latency") or {}
    mem, ing, growth = res.get("memory") or {}, res.get("ingest") or {}, res.get("growth") or {}
    imp, http = ing.get("import") or {}, ing.get("http") or {}
    h2h = res.get("head_to_head") or {}
    wl = res.get("workload") or {}
    base = b.get("json_per_s")
    out = [
        f"# appwatch benchmark ({res['mode']})",
        "",
        f"`{res['command']}`, {res['started_at']}, {res.get('duration_s')} s, "
        f"{res['machine']['cpus']} CPUs, load average {res['machine']['load_avg_start'][0]} at the start, "
        f"{res['machine'].get('load_avg_end', ['?'])[0]} at the end (the machine is shared: compare ratios).",
        "",
        f"Code: sources digest {res.get('code', {}).get('sources_sha256')} (newest file "
        f"{res.get('code', {}).get('newest')})"
        + (" — **the sources changed during the run**" if res.get("code", {}).get("changed_during_run") else "")
        + ".",
        "",
        f"Main workload: {wl.get('events', 0):,} `app.metric` delta events over {wl.get('series', 0):,} series, "
        f"{wl.get('events_per_day', 1)} a day per series ({wl.get('days')} days), every "
        f"{wl.get('spike_every')}th series spiking on day {(wl.get('spike_day') or 0) + 1}; "
        f"{wl.get('partitions')} partitions, one embedded Tansu broker.",
        "",
        "| # | figure | measured | baseline (same run) | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]

    def capped(run):
        if not run:
            return ""
        if run.get("complete"):
            return ""
        done, total = run.get("committed_events", 0), run.get("events", 0)
        return f" (stopped: {done:,} of {total:,} in {_fmt(run.get('elapsed_s'), 0)} s)"

    def met(x):
        return "n/a" if x is None else ("yes" if x else "**no**")

    goals = {g["figure"]: g for g in res.get("goals", [])}

    def goal(prefix):
        return next((g for name, g in goals.items() if name.startswith(prefix)), {"met": None, "goal": "-"})

    out.append(
        f"| 1 | raw aiokafka consumer, `json.loads` (orjson) | {_fmt(base)}/s ({_fmt(b.get('orjson_per_s'))}/s) "
        f"| - | 1.00 | - | - |"
    )
    runs = len(p.get("runs") or []) or 1
    out.append(
        f"| 2 | appwatch worker: decode, daily window, spike, alerts (median of {runs}){capped(p)} | "
        f"{_fmt(p.get('events_per_s'))}/s | {_fmt(base)}/s | {_fmt(p.get('ratio_to_baseline'), 3)} | "
        f"{goal('2. pipeline')['goal']} | {met(goal('2. pipeline')['met'])} |"
    )
    out.append(
        f"| 2 | its CPU per event (median of {runs}) | {_fmt(p.get('cpu_us_per_event'), 1)} µs | - | - | "
        f"{goal('2. worker CPU')['goal']} | {met(goal('2. worker CPU')['met'])} |"
    )
    if q.get("events_per_s"):
        out.append(
            f"| 3 | Quix Streams, same rule, same topic{capped(q)} | {_fmt(q.get('events_per_s'))}/s, "
            f"{_fmt(q.get('cpu_us_per_event'))} µs CPU/event | appwatch {_fmt(p.get('events_per_s'))}/s | "
            f"appwatch/Quix {_fmt(h2h.get('ratio'), 3)} (CPU {_fmt(h2h.get('cpu_ratio'), 3)}) | >= 1.0 | "
            f"{met(goal('3')['met'])} |"
        )
    else:
        out.append(
            f"| 3 | Quix Streams | not measured: {h2h.get('error') or q.get('skipped')} | - | - | >= 1.0 | n/a |"
        )
    if lat.get("p99_ms") is not None:
        lb = " (≥: late alerts counted until the drain ended)" if lat.get("missing_counted_as_lower_bound") else ""
        out.append(
            f"| 4 | event -> signed webhook at {_fmt(lat.get('rate_per_s'))}/s "
            f"({lat.get('alerts_received')}/{lat.get('alerts_expected')} alerts{lb}) | p50 {_fmt(lat.get('p50_ms'))} · "
            f"p95 {_fmt(lat.get('p95_ms'))} · p99 {_fmt(lat.get('p99_ms'))} ms | - | - | p99 {goal('4')['goal']} | "
            f"{met(goal('4')['met'])} |"
        )
        for other in lat.get("at_other_rates") or []:
            out.append(
                f"| 4 | the same at {_fmt(other.get('rate_per_s'))}/s ({other.get('alerts_received')}/"
                f"{other.get('alerts_expected')} alerts) | p50 {_fmt(other.get('p50_ms'))} · "
                f"p95 {_fmt(other.get('p95_ms'))} · p99 {_fmt(other.get('p99_ms'))} ms | - | - | (a rate "
                f"the worker sustains) | - |"
            )
    else:
        out.append(
            f"| 4 | event -> webhook | not measured: {_get(res, 'errors', 'latency') or lat.get('skipped')} "
            f"| - | - | p99 {goal('4')['goal']} | n/a |"
        )
    out.append(
        f"| 5 | worker RSS, {_fmt(mem.get('series'))} series × {_fmt(mem.get('days_loaded'), 1)} days "
        f"(a window keeps {mem.get('retained_days')}) | {_fmt(mem.get('rss_mb'))} MB (idle "
        f"{_fmt(mem.get('rss_idle_mb'))}, peak {_fmt(mem.get('rss_peak_mb'))}) | - | - | "
        f"{goal('5. worker RSS')['goal']} | {met(goal('5. worker RSS')['met'])} |"
    )
    rst = res.get("restore") or {}
    out.append(
        f"| 5 | restore after kill -9: {_fmt(rst.get('series_restored'))} series from the changelog | "
        f"{_fmt(rst.get('restore_s'), 2)} s (new process to ready: {_fmt(rst.get('restart_to_ready_s'), 1)} s) "
        f"| - | - | {goal('5. restore')['goal']} | {met(goal('5. restore')['met'])} |"
    )
    if imp:
        out.append(
            f"| 6 | file import, 1 worker / 2 workers ({imp.get('rows'):,} rows) | "
            f"{_fmt(imp.get('import_1_worker_per_s'))}/s / {_fmt(imp.get('import_2_workers_per_s'))}/s | "
            f"raw kafka-python producer {_fmt(imp.get('raw_producer_per_s'))}/s | "
            f"{_fmt(imp.get('ratio_1_worker'), 2)} / {_fmt(imp.get('ratio_2_workers'), 2)} | >= 15,000/s | "
            f"{met(goal('6')['met'])} |"
        )
    if http:
        out.append(
            f"| 6 | HTTP ingest, NDJSON × {http.get('batch')}, {http.get('concurrency')} clients | "
            f"{_fmt(http.get('http_per_s'))}/s | raw producer {_fmt(imp.get('raw_producer_per_s'))}/s | "
            f"{_fmt(http.get('ratio_to_raw_producer'), 2)} | - | - |"
        )
    if growth.get("points"):
        out.append(
            f"| 7 | CPU per event, most / least series (1 worker) | {_fmt(growth.get('cpu_per_event_spread'), 2)}× | "
            f"- | - | flat | {met(goal('7')['met'])} |"
        )
    out += [
        "",
        "## Growth",
        "",
        "| series | workers | series seen | events/s | ratio to baseline | µs CPU/event | RSS MB | run |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for pt in growth.get("points", []):
        run = "main run" if pt.get("main_run") else ""
        if not pt.get("complete"):
            run += (", " if run else "") + (
                f"stopped after {_fmt(pt.get('elapsed_s'), 0)} s: "
                f"{int(pt.get('counted') or 0):,} events processed, "
                f"{pt.get('committed_events', 0):,} committed"
            )
        done = pt.get("counted") or pt.get("committed_events") or 0
        loaded = min(pt["series"], int(done)) if not pt.get("complete") else pt["series"]
        out.append(
            f"| {pt['series']:,} | {pt['workers']} | {loaded:,} | {_fmt(pt.get('events_per_s'))} | "
            f"{_fmt(pt.get('ratio_to_baseline'), 4)} | {_fmt(pt.get('cpu_us_per_event'))} | "
            f"{_fmt(pt.get('rss_end_mb'))} | {run} |"
        )
    if growth.get("two_workers_speedup") is not None:
        out.append("")
        out.append(
            f"2 workers vs 1 on the same series count: {growth['two_workers_speedup']:.2f}× the events/s, "
            f"{growth.get('two_workers_cpu_per_event_ratio') or 0:.2f}× the CPU per event."
        )
    out += ["", "## Notes", ""]
    if p.get("alerts") is not None:
        out.append(
            f"- Alerts on the output topics: appwatch {p.get('alerts')}, Quix {q.get('alerts', 'n/a')}; "
            f"{wl.get('expected_alerts')} expected once every event is processed (a stopped appwatch "
            "run has alerts still queued on its internal control topic)."
        )
    if lat:
        out.append(
            f"- Latency: {lat.get('events', 0):,} events at {_fmt(lat.get('achieved_rate_per_s'))}/s achieved, "
            f"{lat.get('alert_fraction_of_events', 0):.2%} of them fire; the worker was "
            f"{lat.get('events_behind_when_sending_ended', 0):,} events behind when sending ended; "
            f"from our own send time p50 {_fmt(lat.get('p50_ms_from_send'))} / "
            f"p99 {_fmt(lat.get('p99_ms_from_send'))} ms."
        )
    if mem:
        out.append(
            f"- Memory: {mem.get('note')}; state after {2 * (mem.get('state_equals_last_days') or 0)} days == "
            f"state after the last {mem.get('state_equals_last_days')}: {mem.get('state_equals')} "
            f"({mem.get('state_bytes_per_series')} bytes JSON a series)."
        )
    if res.get("restore"):
        out.append(f"- Restore: {res['restore'].get('note')}.")
    out.append(
        "- Throughput is timed from the first consume to the last committed offset (the detect stage "
        "commits every second; the Quix job is given a 2.8 s commit interval). Each run of 1 and 2 reads "
        "its own copy of the topic; their medians are the figures, every run is in bench.json "
        "(`pipeline.runs`, `baseline.runs`). A run stopped at its time cap is rated over the events it "
        "processed by then (`appwatch_events_total`, the Quix job's own count). CPU per event is from "
        "/proc over the same events."
    )
    for name, err in (res.get("errors") or {}).items():
        out.append(f"- error in {name}: `{err[:300]}`")
    return "\n".join(out) + "\n"


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(17, 9.5))
    fig.suptitle(
        f"appwatch benchmark ({res['mode']}, {res['started_at']}): every figure against a baseline of the same run"
    )
    b = res.get("baseline") or {}
    p, q = res.get("pipeline") or {}, res.get("quix") or {}

    ax = axes[0][0]
    names, vals = [], []
    for n, v in (
        ("raw aiokafka\n+json.loads", b.get("json_per_s")),
        ("raw aiokafka\n+orjson", b.get("orjson_per_s")),
        ("Quix Streams\nspike rule", q.get("events_per_s")),
        ("appwatch\nworker", p.get("events_per_s")),
    ):
        if v:
            names.append(n)
            vals.append(v)
    bars = ax.bar(names, vals, color=["#999", "#bbb", "#6a9fd8", "#e07b39"][: len(vals)])
    ax.set_yscale("log")
    ax.set_ylabel("events/s (log)")
    ax.set_title("1-3. consume throughput, same topic")
    for bar, v in zip(bars, vals, strict=True):
        ax.text(
            bar.get_x() + bar.get_width() / 2,
            v,
            f"{v:,.0f}\n{v / vals[0]:.3f}x" if vals else "",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    if b.get("json_per_s"):
        ax.axhline(0.35 * b["json_per_s"], color="green", ls="--", lw=1)
        ax.text(0, 0.35 * b["json_per_s"], " goal 0.35x", color="green", fontsize=8, va="bottom")

    ax = axes[0][1]
    for run, label, color in ((p, "appwatch", "#e07b39"), (q, "Quix Streams", "#6a9fd8")):
        if run.get("curve"):
            xs, ys = zip(*run["curve"], strict=True)
            ax.plot(xs, ys, label=label, color=color)
    ax.set_xlabel("s since first consume")
    ax.set_ylabel("events committed")
    ax.set_title("2-3. committed offsets over time")
    ax.legend()

    ax = axes[0][2]
    lat = res.get("latency") or {}
    colors = ["#e07b39", "#2f6f8f", "#5aa469"]
    for i, one in enumerate([lat, *(lat.get("at_other_rates") or [])]):
        if not one.get("latencies_ms"):
            continue
        v = sorted(one["latencies_ms"])
        ax.plot(
            v,
            [(j + 1) / len(v) for j in range(len(v))],
            color=colors[i % 3],
            label=f"{one['rate_per_s']:,.0f}/s: p50 {one['p50_ms']:,.0f}, p99 {one['p99_ms']:,.0f} ms",
        )
    if lat.get("latencies_ms"):
        ax.axvline(100, color="green", lw=1, ls="--", label="goal p99 100 ms (1k/s)")
        ax.set_xscale("log")
        ax.legend(fontsize=8)
    ax.set_xlabel("event -> webhook, ms (log)")
    ax.set_ylabel("fraction of alerts")
    ax.set_title("4. event -> signed webhook (CDF)")

    pts = (res.get("growth") or {}).get("points") or []
    one = sorted((x for x in pts if x["workers"] == 1 and x.get("events_per_s")), key=lambda x: x["series"])
    ax = axes[1][0]
    if one:
        xs = [x["series"] for x in one]
        ax.plot(xs, [x["events_per_s"] for x in one], "o-", color="#e07b39", label="events/s (left)")
        ax.set_xscale("log")
        ax.set_ylabel("events/s, 1 worker")
        ax.set_ylim(bottom=0)
        cpu = ax.twinx()
        cpu.plot(
            xs, [x.get("cpu_us_per_event") or 0 for x in one], "s--", color="#2f6f8f", label="µs CPU/event (right)"
        )
        cpu.set_ylabel("µs CPU per event")
        cpu.set_ylim(bottom=0)
        for x in one:
            ax.annotate(
                f"{x['events_per_s']:,.0f}/s",
                (x["series"], x["events_per_s"]),
                fontsize=8,
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
            )
        ax.legend(loc="lower left", fontsize=8)
        cpu.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("series (log)")
    ax.set_title("7. growth: throughput and CPU per event")

    ax = axes[1][1]
    mem = res.get("memory") or {}
    if one:
        ax.plot(
            [x["series"] for x in one],
            [x.get("rss_end_mb") or 0 for x in one],
            "o-",
            color="#8a6fb0",
            label="RSS at the end, 1 worker",
        )
        ax.set_xscale("log")
    if mem.get("rss_idle_mb"):
        ax.axhline(mem["rss_idle_mb"], color="#999", lw=1, label=f"idle {mem['rss_idle_mb']:.0f} MB")
    ax.axhline(300, color="green", ls="--", lw=1, label="goal 300 MB (10k series)")
    ax.set_xlabel("series (log)")
    ax.set_ylabel("RSS MB")
    ax.set_title("5, 7. worker memory by series")
    ax.legend(fontsize=8)

    ax = axes[1][2]
    ing = res.get("ingest") or {}
    imp, http = ing.get("import") or {}, ing.get("http") or {}
    names, vals = [], []
    for n, v in (
        ("raw kafka-python\nproducer", imp.get("raw_producer_per_s")),
        ("import\n1 worker", imp.get("import_1_worker_per_s")),
        ("import\n2 workers", imp.get("import_2_workers_per_s")),
        ("HTTP ingest\nNDJSON", http.get("http_per_s")),
    ):
        if v:
            names.append(n)
            vals.append(v)
    ax.bar(names, vals, color=["#999", "#5aa469", "#3d8b4f", "#2f6f8f"][: len(vals)])
    ax.axhline(15_000, color="green", ls="--", lw=1)
    ax.text(0, 15_000, " goal 15k/s (import)", color="green", fontsize=8, va="bottom")
    ax.set_ylabel("events/s")
    ax.set_title("6. ingest into the broker")

    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write(res: dict, out: Path) -> dict[str, Path]:
    md, png = out / "bench.md", out / "bench.png"
    md.write_text(markdown(res))
    try:
        plot(res, png)
    except Exception as exc:  # noqa: BLE001 - a plot failure must not lose the numbers
        res.setdefault("errors", {})["plot"] = f"{type(exc).__name__}: {exc}"
    return {"json": out / "bench.json", "markdown": md, "png": png}


# -- the README's Performance table ------------------------------------------------------------

README_BEGIN = "<!-- bench:begin (python -m bench.report --readme writes this from bench/results/bench.json) -->"
README_END = "<!-- bench:end -->"


def readme(res: dict) -> str:
    """The README's Performance table: every figure from ``res`` (a full run's bench.json)."""
    b, p, q = res.get("baseline") or {}, res.get("pipeline") or {}, res.get("quix") or {}
    lat, mem, rst = res.get("latency") or {}, res.get("memory") or {}, res.get("restore") or {}
    imp = _get(res, "ingest", "import") or {}
    http = _get(res, "ingest", "http") or {}
    growth = res.get("growth") or {}
    goals = {g["figure"]: g for g in res.get("goals", [])}

    def met(prefix):
        g = next((g for name, g in goals.items() if name.startswith(prefix)), None)
        return "n/a" if g is None or g["met"] is None else ("yes" if g["met"] else "no")

    m, wl = res["machine"], res.get("workload") or {}
    runs = len(p.get("runs") or [])
    out = [
        f"Full-size run of `{res['command']}`, {res['started_at'][:10]}: {m['cpus']} cores, load average "
        f"{m['load_avg_start'][0]} at the start and {m.get('load_avg_end', ['?'])[0]} at the end. "
        f"{wl.get('events', 0):,} `app.metric` delta events over {wl.get('series', 0):,} series, "
        f"{wl.get('partitions')} partitions; 1 and 2 are medians of {runs} interleaved runs.",
        "",
        "| # | figure | measured | ratio | goal | met |",
        "|---|---|---|---|---|---|",
        f"| 1 | raw aiokafka consumer + `json.loads` (baseline) | {_fmt(b.get('json_per_s'))}/s | 1.00 | - | - |",
        f"| 2 | appwatch worker: decode → series state → spike → alerts | {_fmt(p.get('events_per_s'))}/s | "
        f"{_fmt(p.get('ratio_to_baseline'), 3)} | ≥ 0.35 | {met('2. pipeline')} |",
        f"| 2 | its CPU per event | {_fmt(p.get('cpu_us_per_event'), 1)} µs | - | ≤ 20 µs | {met('2. worker CPU')} |",
        f"| 3 | Quix Streams, the same rule on the same topic | {_fmt(q.get('events_per_s'))}/s, "
        f"{_fmt(q.get('cpu_us_per_event'))} µs CPU/event | appwatch ÷ Quix "
        f"{_fmt(_get(res, 'head_to_head', 'ratio'), 2)} | ≥ 1.0 | {met('3')} |",
        f"| 4 | event → signed webhook at {_fmt(lat.get('rate_per_s'))} events/s (group_wait 0) | "
        f"p50 {_fmt(lat.get('p50_ms'))} · p99 {_fmt(lat.get('p99_ms'))} ms | - | p99 < 100 ms | {met('4')} |",
    ]
    for other in lat.get("at_other_rates") or []:
        out.append(
            f"| 4 | the same at {_fmt(other.get('rate_per_s'))} events/s | p50 {_fmt(other.get('p50_ms'))} · "
            f"p99 {_fmt(other.get('p99_ms'))} ms | - | - | - |"
        )
    loaded = (
        "full windows"
        if mem.get("full_state_loaded")
        else f"{mem.get('days_loaded')} of the {mem.get('retained_days')} days a window keeps"
    )
    out += [
        f"| 5 | worker RSS, {_fmt(mem.get('series'))} series, {loaded} | {_fmt(mem.get('rss_mb'))} MB | - | "
        f"< 300 MB | {met('5. worker RSS')} |",
        f"| 5 | restore of {_fmt(rst.get('series_restored'))} series after kill -9 (new process to ready: "
        f"{_fmt(rst.get('restart_to_ready_s'), 1)} s) | {_fmt(rst.get('restore_s'), 2)} s | - | < 5 s | "
        f"{met('5. restore')} |",
        f"| 6 | file import, 1 / 2 workers | {_fmt(imp.get('import_1_worker_per_s'))}/s / "
        f"{_fmt(imp.get('import_2_workers_per_s'))}/s | {_fmt(imp.get('ratio_1_worker'), 2)} / "
        f"{_fmt(imp.get('ratio_2_workers'), 2)} of a raw producer | ≥ 15k/s | {met('6')} |",
        f"| 6 | HTTP ingest, NDJSON batches of {http.get('batch')} | {_fmt(http.get('http_per_s'))}/s | "
        f"{_fmt(http.get('ratio_to_raw_producer'), 2)} | - | - |",
    ]
    one = sorted((x for x in growth.get("points", []) if x["workers"] == 1), key=lambda x: x["series"])
    if one:
        series = " / ".join(f"{x['series'] // 1000:,}k" for x in one)
        out.append(
            f"| 7 | events/s, CPU per event and RSS at {series} series | "
            f"{' / '.join(_fmt(x.get('events_per_s')) for x in one)}/s; "
            f"{' / '.join(_fmt(x.get('cpu_us_per_event'), 1) for x in one)} µs; "
            f"{' / '.join(_fmt(x.get('rss_end_mb')) for x in one)} MB | "
            f"CPU spread {_fmt(growth.get('cpu_per_event_spread'), 2)}× | flat (≤ 1.5×) | {met('7')} |"
        )
    if growth.get("two_workers_speedup") is not None:
        out += [
            "",
            f"Two workers in one group: {growth['two_workers_speedup']:.2f}× the events/s of one, at "
            f"{growth.get('two_workers_cpu_per_event_ratio') or 0:.2f}× the CPU per event.",
        ]
    return "\n".join(out) + "\n"


def write_readme(res: dict, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    head, rest = text.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    path.write_text(f"{head}{README_BEGIN}\n{readme(res)}{README_END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    import argparse
    import json

    ap = argparse.ArgumentParser(description="Rewrite the README's Performance table from a bench.json")
    ap.add_argument("--readme", action="store_true", help="write the table into README.md")
    ap.add_argument("--json", type=Path, default=Path(__file__).resolve().parent / "results" / "bench.json")
    args = ap.parse_args()
    res = json.loads(args.json.read_text())
    if args.readme:
        write_readme(res, Path(__file__).resolve().parent.parent / "README.md")
    else:
        print(readme(res), end="")
