"""The cost of a spike rule's daily fit: ``python -m bench.baseline_fit``.

A spike rule judges each day against a baseline it computes once per series per day, when
the day is first judged (``streams.engine.spike_basis``), not per event. This times that
computation on full windows (every day a rule reads, the markets' calendars on) for each
baseline kind: the 7-day median, the same weekday (8 weeks), and the seasonal fit (8 weeks, and
57: a year and a bit). Per fit, best of
``PASSES`` passes over ``SERIES`` series, in the same process, with the machine's load beside
it. Then what two years of daily totals leave in a series' state (``history``): the days its
window keeps, the special days it keeps for a year, its changelog record and its Python
objects. Writes ``bench/results/baseline_fit.json``.
"""

from __future__ import annotations

import json
import os
import random
import time
from datetime import date
from pathlib import Path

from core import yamlfile
from core.events import decode_fast
from streams import series, windows
from streams.engine import Engine, spike_basis
from streams.rules import RuleSet

OUT = Path(__file__).resolve().parent / "results" / "baseline_fit.json"
SERIES, PASSES = 500, 5
KINDS = {
    "median": "{baseline: median}",
    "weekday": "{baseline: weekday, weeks: 8, holidays: widen}",
    "seasonal": "{baseline: seasonal, weeks: 8, holidays: widen}",
    "seasonal, 57 weeks": "{baseline: seasonal, weeks: 57, holidays: widen}",
}
HISTORY = {
    "shipped": "{baseline: weekday, weeks: 4, holidays: widen, holiday_around: 2, market: {}}",
    **KINDS,
    "weekday, last_year": "{baseline: weekday, weeks: 4, holidays: last_year}",
    "seasonal, 13 weeks": "{baseline: seasonal, weeks: 13, holidays: widen}",
    "seasonal, 57 weeks": "{baseline: seasonal, weeks: 57, holidays: widen}",
}
HISTORY_SERIES, HISTORY_DAYS = 200, 730
FIT_DAYS = 7 * 57 + 2  # the longest history a rule can read (57 weeks), so every kind has all its days


def _windows(day: int, rng: random.Random) -> list[windows.Daily]:
    out = []
    for _ in range(SERIES):
        w = windows.Daily()
        level = rng.uniform(1e4, 1e6)
        for d in range(day - FIT_DAYS, day + 1):
            weekend = date.fromordinal(d).weekday() >= 5
            windows.add(w, d, level * (1.8 if weekend else 1.0) * rng.uniform(0.9, 1.1), "total", FIT_DAYS + 2, 2)
        out.append(w)
    return out


def measure() -> dict:
    day = date(2024, 11, 20).toordinal()
    ws = _windows(day, random.Random(7))
    result = {}
    for kind, params in KINDS.items():
        ruleset = yamlfile.parse(f"rules: [{{name: s, kind: spike, params: {params}}}]", RuleSet)
        rule, cal = ruleset.rules[0], Engine(ruleset).calendar
        best = float("inf")
        for _ in range(PASSES):
            t0 = time.perf_counter()
            for w in ws:
                spike_basis(rule, w, day, "cn", cal)
            best = min(best, (time.perf_counter() - t0) / SERIES)
        result[kind] = {"us_per_fit": round(best * 1e6, 1)}
    return {
        "fits": result,
        "series": SERIES,
        "history_days": FIT_DAYS,
        "history": {kind: history(params) for kind, params in HISTORY.items()},
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def history(params: str) -> dict:
    """Per series, after ``HISTORY_DAYS`` daily totals of ``HISTORY_SERIES`` CN series: the
    days the window keeps, the special days kept for a year (totals, effects), the changelog
    record's bytes and the state's Python objects (tracemalloc over a decode of the records)."""
    import tracemalloc

    ruleset = yamlfile.parse(f"rules: [{{name: s, kind: spike, params: {params}}}]", RuleSet)
    engine, state, rng = Engine(ruleset), {}, random.Random(3)
    first = date(2023, 1, 2).toordinal()
    for d in range(first, first + HISTORY_DAYS):
        ts = date.fromordinal(d).isoformat() + "T12:00:00+08:00"
        for s in range(HISTORY_SERIES):
            value = 1e5 * (1 + s % 7) * rng.uniform(0.9, 1.1)
            raw = (
                f'{{"event_id":"h{s}-{d}","type":"app.metric","source":"bench","ts":"{ts}","app_id":"app{s}",'
                f'"platform":"all","country":"cn","metric":"downloads","value":{value:.1f},"period":"day","mode":"total"}}'
            )
            engine.metric(decode_fast(raw.encode()), state)
    records = [series.encode(st) for st in state.values()]
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [series.decode(r) for r in records]
    python_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    ws = [st.rules["s"] for st in kept]
    n = len(ws)
    return {
        "days_kept": round(sum(len(w.totals) for w in ws) / n, 1),
        "special_days_kept": round(sum(len(w.marks) + len(w.effects) for w in ws) / n, 1),
        "record_bytes": round(sum(map(len, records)) / n),
        "python_bytes": round(python_bytes / n),
    }


def main() -> None:
    r = measure()
    for kind, v in r["fits"].items():
        print(f"{kind:<9} {v['us_per_fit']:>8.1f} us per series per day")
    for kind, h in r["history"].items():
        print(
            f"{kind:<19} after {HISTORY_DAYS} days: keeps {h['days_kept']} days + {h['special_days_kept']} special"
            f" days, a {h['record_bytes']} B changelog record, {h['python_bytes']} B of Python objects"
        )
    print(f"load average {r['loadavg']} on {r['cpus']} CPUs")
    OUT.write_text(json.dumps(r, indent=1) + "\n", "utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
