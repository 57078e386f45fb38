"""Evaluate the news stage on the labelled test set: ``make eval`` (``python -m bench.news_eval``).

Reads ``tests/data/news/test.jsonl`` (never used for training or tuning), reads every
item with the stage (``streams.enrich``), and prints and writes to
``bench/results/news_eval.json``:

- precision and recall per type and language, and the confusion matrix (``launch`` counts
  as ``other``);
- talent moves (hire, departure, dispute as one group) and org changes (reorg): P/R per
  language;
- directed moves (test items of a talent type with both from_company and to_company):
  the share whose predicted from and to are both right;
- latency of the stage per item (µs, p50 and p99, over several passes) and the RSS growth
  of loading it (a fresh interpreter, after the worker's own imports), with the load
  average of the machine beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEST_SET = ROOT / "tests" / "data" / "news" / "test.jsonl"
OUT = ROOT / "bench" / "results" / "news_eval.json"
TYPES = ("hire", "departure", "dispute", "reorg", "funding", "denial", "other")
GROUPS = {"talent": {"hire", "departure", "dispute"}, "org": {"reorg"}}
TARGET_P, TARGET_R = 0.98, 0.95
PASSES = 5

_RSS = """
import os, resource
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE')
import core.events, pydantic, yaml  # noqa: E401 -- the worker has these already
before = rss()
from streams import enrich
enrich.enrich(core.events.validate({"event_id": "x", "type": "news", "source": "s", "ts": "2024-01-01T00:00:00Z",
    "url": "https://e.com", "title": "位元組跳動挖角阿里通義千問技術負責人周暢"}))
print(rss() - before)
"""


def _pr(tp: int, fp: int, fn: int) -> dict:
    return {
        "precision": round(tp / (tp + fp), 4) if tp + fp else 1.0,
        "recall": round(tp / (tp + fn), 4) if tp + fn else 1.0,
        "support": tp + fn,
    }


def _score(gold: list[str], pred: list[str], group: set[str]) -> dict:
    tp = sum(g in group and p in group for g, p in zip(gold, pred, strict=True))
    fp = sum(g not in group and p in group for g, p in zip(gold, pred, strict=True))
    fn = sum(g in group and p not in group for g, p in zip(gold, pred, strict=True))
    return _pr(tp, fp, fn)


def quality(items: list[dict], readings: list) -> dict:
    pred = [r.kind if r.kind in TYPES else "other" for r in readings]
    out: dict = {"items": len(items), "per_type": {}, "groups": {}, "confusion": {}}
    for lang in ("zh", "en"):
        idx = [i for i, it in enumerate(items) if it["lang"] == lang]
        gold_l, pred_l = [items[i]["type"] for i in idx], [pred[i] for i in idx]
        out["per_type"][lang] = {t: _score(gold_l, pred_l, {t}) for t in TYPES}
        out["groups"][lang] = {g: _score(gold_l, pred_l, members) for g, members in GROUPS.items()}
        out["confusion"][lang] = {
            g: {p: sum(a == g and b == p for a, b in zip(gold_l, pred_l, strict=True)) for p in TYPES} for g in TYPES
        }
        out.setdefault("lang_accuracy", {})[lang] = round(
            sum(readings[i].lang == lang for i in idx) / max(1, len(idx)), 4
        )
    directed = [
        i
        for i, it in enumerate(items)
        if it["type"] in GROUPS["talent"] and it.get("from_company") and it.get("to_company")
    ]
    right = [
        i
        for i in directed
        if (readings[i].from_company, readings[i].to_company) == (items[i]["from_company"], items[i]["to_company"])
    ]
    out["directed_moves"] = {
        "items": len(directed),
        "both_right": len(right),
        "share": round(len(right) / max(1, len(directed)), 4),
    }
    out["wrong"] = [
        {"id": items[i].get("id"), "gold": items[i]["type"], "predicted": pred[i]}
        for i in range(len(items))
        if pred[i] != items[i]["type"]
    ] + [
        {
            "id": items[i].get("id"),
            "gold_from_to": [items[i]["from_company"], items[i]["to_company"]],
            "predicted_from_to": [readings[i].from_company, readings[i].to_company],
        }
        for i in directed
        if i not in right
    ]
    return out


def latency(items: list[dict]) -> dict:
    from streams import enrich

    stage = enrich._DEFAULT
    times = []
    for _ in range(PASSES):
        for it in items:
            t0 = time.perf_counter_ns()
            stage.read(it["title"], it.get("summary"))
            times.append((time.perf_counter_ns() - t0) / 1000)
    times.sort()
    return {
        "us_p50": round(statistics.median(times), 1),
        "us_p99": round(times[int(0.99 * (len(times) - 1))], 1),
        "samples": len(times),
    }


def rss_growth_mb() -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _RSS], capture_output=True, text=True, check=True, env=env, cwd=ROOT)
    return round(int(out.stdout.strip()) / 1e6, 1)


def targets(result: dict) -> list[str]:
    """The issue's targets that the result misses (empty: all met)."""
    misses = []
    for lang, groups in result["groups"].items():
        for g, s in groups.items():
            if s["precision"] < TARGET_P or s["recall"] < TARGET_R:
                misses.append(f"{lang} {g}: P {s['precision']} R {s['recall']}")
    if result["directed_moves"]["share"] < 1.0:
        misses.append(f"directed moves both right: {result['directed_moves']['share']}")
    if result["cost"]["us_p50"] >= 1000:
        misses.append(f"latency p50 {result['cost']['us_p50']} us")
    if result["cost"]["rss_growth_mb"] >= 100:
        misses.append(f"RSS growth {result['cost']['rss_growth_mb']} MB")
    return misses


def evaluate(path: Path = TEST_SET) -> dict:
    from streams import enrich
    from streams.news import load_jsonl

    items = load_jsonl(path)
    readings = [enrich._DEFAULT.read(it["title"], it.get("summary")) for it in items]
    result = quality(items, readings)
    result["cost"] = {
        **latency(items),
        "rss_growth_mb": rss_growth_mb(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    result["cost"]["cpus"] = os.cpu_count()
    return result


def show(r: dict) -> None:
    print(f"news stage on {r['items']} test items")
    print(f"{'lang':<4} {'type':<10} {'P':>6} {'R':>6} {'n':>4}")
    for lang, per in r["per_type"].items():
        for t, s in {**per, **{f"[{g}]": v for g, v in r["groups"][lang].items()}}.items():
            print(f"{lang:<4} {t:<10} {s['precision']:>6.3f} {s['recall']:>6.3f} {s['support']:>4}")
    for lang, m in r["confusion"].items():
        print(f"confusion {lang} (rows gold, columns predicted): " + " ".join(t[:4] for t in TYPES))
        for g, row in m.items():
            print(f"  {g:<10} " + " ".join(f"{row[p]:>4}" for p in TYPES))
    d, c = r["directed_moves"], r["cost"]
    print(f"directed moves with from and to right: {d['both_right']}/{d['items']} ({d['share']:.3f})")
    print(f"latency per item: p50 {c['us_p50']} us, p99 {c['us_p99']} us; RSS growth {c['rss_growth_mb']} MB")
    print(f"load average {c['loadavg']} on {c['cpus']} CPUs")
    misses = targets(r)
    print("targets: all met" if not misses else "targets missed: " + "; ".join(misses))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.news_eval", description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=TEST_SET)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    result = evaluate(args.data)
    show(result)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", "utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
