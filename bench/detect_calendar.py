"""What the calendar and the market stage cost the detect stage: ``python -m bench.detect_calendar``.

The same records through ``Stage.process`` (the batch detect stage without Kafka: decode,
fold, judge, the control records encoded) with the spike rule of the old pack (the 7-day
median, days cut in Asia/Shanghai) and with the shipped one (the same weekday, each market's
days, holidays widen, market moves), in the same process, the two taking turns batch by
batch, in CPU time; the median ratio of ``RUNS`` runs. Then the control agent's share of the
shipped rule: its moves folded into
their market (``Engine.market``), as the worker's control agent does. Writes
``bench/results/detect_calendar.json`` with the machine's load beside the figures.
"""

from __future__ import annotations

import gc
import json
import os
import time
from pathlib import Path

import orjson

from bench import workload
from core import yamlfile
from core.events import Topics
from streams import rules
from streams.engine import Engine
from streams.rules import RuleSet
from streams.stage import MAX_RECORDS, Record, Stage

OUT = Path(__file__).resolve().parent / "results" / "detect_calendar.json"
EVENTS, SERIES, PARTITIONS, RUNS = 200_000, 2000, 4, 7
SHAPES = (1, 4)  # events a day per series: a daily total; a running total every 6 hours
TOPICS = Topics("bench.")
OLD = """rules:
  - {name: download-spike, kind: spike, match: {type: app.metric, metric: downloads}, timezone: Asia/Shanghai,
     params: {ratio: 2.0, baseline_days: 7, min_history: 5, min_baseline: 1000, baseline: median}}
"""


def batches(per_day: int) -> tuple[list[dict], int]:
    """The workload as the stage gets it: batches of ``MAX_RECORDS``, grouped by partition."""
    w = workload.spike_workload(TOPICS.metrics, EVENTS, SERIES, per_day=per_day)
    now = int(time.time() * 1000)
    offsets = [0] * PARTITIONS
    out = []
    for i in range(0, len(w.records), MAX_RECORDS):
        batch: dict[int, list[Record]] = {}
        for key, value in w.records[i : i + MAX_RECORDS]:
            p = workload.partition_of(key, PARTITIONS)
            batch.setdefault(p, []).append(Record(TOPICS.metrics, p, offsets[p], now, key, value))
            offsets[p] += 1
        out.append(batch)
    return out, w.expected_alerts


def run(packs: dict[str, RuleSet], work: list[dict]) -> tuple[dict[str, float], dict[str, tuple]]:
    """CPU seconds each pack's stage takes to process ``work``, batch by batch, the packs
    taking turns on each batch (and turns going first), so both meet the same machine;
    each pack's engine and control records."""
    stages = {name: Stage(Engine(ruleset), TOPICS) for name, ruleset in packs.items()}
    took, control = dict.fromkeys(packs, 0.0), {name: [] for name in packs}
    gc.collect()
    gc.disable()  # a collection would land on whichever pack happens to be running
    try:
        for i, batch in enumerate(work):
            for name in list(stages)[:: 1 if i % 2 else -1]:
                t0 = time.process_time()
                out = stages[name].process(batch)
                took[name] += time.process_time() - t0
                control[name] += out.control
    finally:
        gc.enable()
    return took, {name: (stages[name].engine, control[name]) for name in packs}


def control_cost(engine: Engine, control: list[bytes]) -> tuple[float, int, int]:
    """Seconds to fold the moves into their markets; the apps' days they carry, alerts."""
    table: dict = {}
    items = [orjson.loads(c) for c in control]
    t0 = time.process_time()
    fired = [a for it in items for m in it.get("moves", ()) for a in engine.market(m, table)]
    took = time.process_time() - t0
    alerts = len(fired) + sum("alert" in it for it in items)
    days = sum(m.get("count", 0) + m.get("new", 0) for it in items for m in it.get("moves", ()))
    return took, days, alerts


def shape(per_day: int) -> dict:
    work, expected = batches(per_day)
    packs = {"old": yamlfile.parse(OLD, RuleSet), "shipped": rules.load(None)}
    runs = [run(packs, work) for _ in range(RUNS)]
    ratios = sorted(t["old"] / t["shipped"] for t, _ in runs)
    best = {name: min(t[name] for t, _ in runs) for name in packs}
    control_s, days, alerts = control_cost(*runs[-1][1]["shipped"])
    old_alerts = sum(b'"alert"' in c[:10] for c in runs[-1][1]["old"][1])
    ratio = ratios[len(ratios) // 2]
    return {
        "events_per_day": per_day,
        "days": EVENTS // SERIES // per_day,
        "events_per_s": {k: round(EVENTS / v) for k, v in best.items()},
        "stage_ratio": round(ratio, 3),
        "stage_ratios": [round(r, 3) for r in ratios],
        "control": {
            "app_days": days,
            "records": sum(b'"moves"' in c[:10] for c in runs[-1][1]["shipped"][1]),
            "us_per_app_day": round(control_s / max(days, 1) * 1e6, 2),
            "seconds": round(control_s, 3),
        },
        "with_control_ratio": round(1 / (1 / ratio + control_s / best["old"]), 3),
        "alerts": {"expected": expected, "old": old_alerts, "shipped": alerts},
    }


def measure() -> dict:
    Engine(rules.load(None)).calendar.special("cn", 739000)  # the holidays package's one-time import
    return {
        "events": EVENTS,
        "series": SERIES,
        "runs": RUNS,
        "shapes": {str(n): shape(n) for n in SHAPES},
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }


def main() -> None:
    r = measure()
    for n, x in r["shapes"].items():
        rates = ", ".join(f"{k} {v:,}/s" for k, v in x["events_per_s"].items())
        print(
            f"{n} a day: {rates}; shipped/old {x['stage_ratio']:.3f} (the stage), {x['with_control_ratio']:.3f} "
            f"with the control agent ({x['control']['us_per_app_day']} us per app and day); alerts {x['alerts']}"
        )
    print(f"load average {r['loadavg']} on {r['cpus']} CPUs")
    OUT.write_text(json.dumps(r, indent=1) + "\n", "utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
