"""The cost of a spike rule's daily fit: ``python -m bench.baseline_fit``.

A spike rule judges each day against a baseline it computes once per series per day, when
the day is first judged (``streams.engine.spike_basis``), not per event. This times that
computation on full windows (8 weeks of history, the markets' calendars on) for each
baseline kind: the 7-day median, the same weekday, and the seasonal fit. Per fit, best of
``PASSES`` passes over ``SERIES`` series, in the same process, with the machine's load beside
it; writes ``bench/results/baseline_fit.json``.
"""

from __future__ import annotations

import json
import os
import random
import time
from datetime import date
from pathlib import Path

from core import yamlfile
from streams import windows
from streams.engine import Engine, spike_basis
from streams.rules import RuleSet

OUT = Path(__file__).resolve().parent / "results" / "baseline_fit.json"
SERIES, PASSES = 2000, 5
KINDS = {
    "median": "{baseline: median}",
    "weekday": "{baseline: weekday, weeks: 8, holidays: widen}",
    "seasonal": "{baseline: seasonal, weeks: 8, holidays: widen}",
}


def _windows(day: int, rng: random.Random) -> list[windows.Daily]:
    out = []
    for _ in range(SERIES):
        w = windows.Daily()
        level = rng.uniform(1e4, 1e6)
        for d in range(day - 58, day + 1):
            weekend = date.fromordinal(d).weekday() >= 5
            windows.add(w, d, level * (1.8 if weekend else 1.0) * rng.uniform(0.9, 1.1), "total", 60, 2)
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
        "history_days": 58,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def main() -> None:
    r = measure()
    for kind, v in r["fits"].items():
        print(f"{kind:<9} {v['us_per_fit']:>8.1f} us per series per day")
    print(f"load average {r['loadavg']} on {r['cpus']} CPUs")
    OUT.write_text(json.dumps(r, indent=1) + "\n", "utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
