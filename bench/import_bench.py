"""File import into the embedded broker, against a raw kafka-python producer baseline.

    python bench/import_bench.py [--rows 200000]

Writes bench/results/import.json and prints a Markdown table. Both runs use the
same broker, the same producer settings and the same keys.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import time
from pathlib import Path

from appwatch.broker import create_topics, embedded
from appwatch.cli import BULK
from connectors import catalog, file_import
from connectors.publish import Publisher
from core.events import Topics

APPS = ["豆包", "Kimi智能助手", "通义", "文小言", "腾讯元宝", "ChatGPT"] + [f"App {i}" for i in range(94)]
MAPPING = file_import.Mapping.parse(
    ["ts=Date", "app_name=App", "country=Country", "value=Downloads"],
    ["type=app.metric", "metric=downloads", "period=day", "platform=all"],
)


def write_csv(path: Path, rows: int) -> None:
    rng = random.Random(1)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Date", "App", "Country", "Downloads"])
        for i in range(rows):
            day = f"2024-{i % 12 + 1:02d}-{i // 12 % 28 + 1:02d}"
            w.writerow([day, APPS[i % len(APPS)], rng.choice(["CN", "US", "JP"]), f"{rng.randint(1000, 999999):,}"])


def baseline(bootstrap: str, topics: Topics, rows: int) -> float:
    """Raw kafka-python: pre-serialized values, same keys, same settings."""
    from kafka import KafkaProducer

    value = (
        b'{"event_id":"import:x:0123456789abcdef01234567","type":"app.metric","source":"import:x",'
        b'"ts":"2024-11-14T00:00:00+08:00","app_id":"doubao","platform":"all","country":"cn",'
        b'"metric":"downloads","value":812345.0,"period":"day","mode":"total"}'
    )
    keys = [f"app-{i}|cn".encode() for i in range(len(APPS) * 3)]
    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **BULK)
    started = time.perf_counter()
    for i in range(rows):
        p.send(topics.metrics, key=keys[i % len(keys)], value=value)
    p.flush()
    took = time.perf_counter() - started
    p.close()
    return rows / took


def appwatch_import(bootstrap: str, topics: Topics, path: Path) -> float:
    with Publisher(bootstrap, topics, **BULK) as pub:
        started = time.perf_counter()
        summary = file_import.run(path, pub, MAPPING, catalog.shipped(), None)
        took = time.perf_counter() - started
    assert not summary.invalid, summary.invalid[:3]
    return summary.published / took


def appwatch_import_parallel(bootstrap: str, topics: Topics, path: Path, workers: int) -> float:
    started = time.perf_counter()
    summary = file_import.run_parallel(path, bootstrap, topics.prefix, MAPPING, None, workers, BULK)
    took = time.perf_counter() - started
    assert not summary.invalid, summary.invalid[:3]
    return summary.published / took


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "import-input.csv"
    write_csv(path, args.rows)
    with embedded() as bootstrap:
        create_topics(bootstrap, Topics("base."), 4)
        create_topics(bootstrap, Topics("imp."), 4)
        create_topics(bootstrap, Topics("par."), 4)
        base = baseline(bootstrap, Topics("base."), args.rows)
        imp = appwatch_import(bootstrap, Topics("imp."), path)
        par = appwatch_import_parallel(bootstrap, Topics("par."), path, 2)
    path.unlink()
    result = {
        "rows": args.rows,
        "baseline_kafka_python_per_s": round(base),
        "import_1_worker_per_s": round(imp),
        "import_2_workers_per_s": round(par),
        "ratio_1": round(imp / base, 3),
        "ratio_2": round(par / base, 3),
        "goal_per_s": 15000,
    }
    (args.out / "import.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| run | events/s | ratio |\n|---|---|---|")
    print(f"| raw kafka-python producer, pre-serialized values | {base:,.0f} | 1.00 |")
    print(f"| import, 1 worker: CSV -> map -> validate -> publish | {imp:,.0f} | {imp / base:.2f} |")
    print(f"| import, 2 workers (default), process start included | {par:,.0f} | {par / base:.2f} |")


if __name__ == "__main__":
    main()
