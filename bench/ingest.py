"""Ingest into the broker: file import (reusing bench/import_bench.py) and the HTTP
endpoint (``appwatch serve``), each against the raw kafka-python producer of the same run."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from appwatch.broker import create_topics, free_port
from bench import import_bench
from bench.procs import Procs
from core.events import Topics

TOKEN = "bench-ingest-token"


def run_import(bootstrap: str, rows: int, work: Path, tag: str) -> dict:
    path = work / "import-input.csv"
    import_bench.write_csv(path, rows)
    try:
        for p in ("base.", "imp.", "par."):
            create_topics(bootstrap, Topics(f"{tag}{p}"), 4)
        raw = import_bench.baseline(bootstrap, Topics(f"{tag}base."), rows)
        one = import_bench.appwatch_import(bootstrap, Topics(f"{tag}imp."), path)
        two = import_bench.appwatch_import_parallel(bootstrap, Topics(f"{tag}par."), path, 2)
    finally:
        path.unlink(missing_ok=True)
    return {
        "rows": rows,
        "raw_producer_per_s": raw,
        "import_1_worker_per_s": one,
        "import_2_workers_per_s": two,
        "ratio_1_worker": one / raw,
        "ratio_2_workers": two / raw,
    }


def _bodies(n: int, batch: int) -> list[bytes]:
    from bench.workload import spike_workload

    w = spike_workload("unused", n, max(1, min(1000, n // 10)))
    values = [v.replace(b'"bench:', b'"http:') for _, v in w.records[:n]]
    return [b"\n".join(values[i : i + batch]) + b"\n" for i in range(0, len(values), batch)]


async def _post_all(url: str, bodies: list[bytes], concurrency: int) -> tuple[int, float]:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/x-ndjson"}
    queue = list(reversed(bodies))
    accepted = 0

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        while queue:
            body = queue.pop()
            r = await client.post(url, content=body, headers=headers)
            if r.status_code != 200:
                raise RuntimeError(f"ingest answered {r.status_code}: {r.text[:300]}")
            accepted += len(r.json()["accepted"])

    async with httpx.AsyncClient(timeout=60) as client:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        return accepted, time.perf_counter() - started


def run_http(bootstrap: str, procs: Procs, n: int, batch: int = 1000, concurrency: int = 2, tag: str = "http.") -> dict:
    port = free_port()
    create_topics(bootstrap, Topics(tag), 4)
    env = {
        "APPWATCH_BROKER": f"kafka://{bootstrap}",
        "APPWATCH_BROKER_FLAVOR": "tansu",
        "APPWATCH_TOPIC_PREFIX": tag,
        "APPWATCH_INGEST_TOKEN": TOKEN,
        "APPWATCH_LOG_LEVEL": "warning",
    }
    server = procs.start("ingest-serve", ["-m", "appwatch", "serve", "--port", str(port)], env, port=port)
    try:
        deadline = time.monotonic() + 60
        while True:
            if not server.alive():
                raise RuntimeError(f"appwatch serve exited {server.popen.returncode}: {server.tail()}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"appwatch serve not ready: {server.tail()}")
            time.sleep(0.1)
        bodies = _bodies(n, batch)
        accepted, took = asyncio.run(_post_all(f"http://127.0.0.1:{port}/v1/events", bodies, concurrency))
        return {
            "events": n,
            "batch": batch,
            "concurrency": concurrency,
            "accepted": accepted,
            "seconds": took,
            "http_per_s": accepted / took,
        }
    finally:
        procs.stop(server, timeout=3)
