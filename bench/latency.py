"""Event -> webhook latency at a steady produce rate, through the real worker.

Each of S series first gets 7 flat days (``mode: total``), consumed before the clock
starts. Then day 8 arrives as ``mode: delta`` events at a steady rate, round-robin over
the series: small deltas (a quarter of the baseline for the whole run), except that
every 5th series gets one large delta, at a point spread over the run, that takes its
running total past 2x the 7-day median. So exactly S/5 alerts fire, each from one known
event, and each goes straight to the signed webhook (no alerts config: one notifier
queue, sent at once). The receiver is appwatch's own (``appwatch.receiver``: it checks
the signature); the latency is receipt time minus the alert's ``observed_at`` (the
triggering record's Kafka timestamp), and, as a cross-check, minus our own send time of
that event (``source_event_id``).

Several rates can run in one worker, one day each (day 9 after day 8, ...), the worker
drained in between: a low rate the worker sustains (the pipeline's own latency), then
the specified 1k events/s (queueing behind a backlog when the worker cannot keep up).
An alert that has not arrived when the drain time ends counts with a lower bound (the
time until then), so a saturated worker cannot look fast by losing its slowest alerts.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta

import httpx
import orjson

from appwatch.broker import free_port
from appwatch.receiver import Receiver, new_secret
from bench.procs import Procs, start_worker, wait_ready
from bench.workload import START, TZ, app_id

FLAT_DAYS = 7
SPIKE_EVERY = 5
TICK = 0.01  # send every 10 ms


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    v = sorted(values)
    pos = (len(v) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def _event(s: int, k: int, day: int, value: float, mode: str, second: int = 0) -> tuple[str, bytes, bytes]:
    ts = (datetime(START.year, START.month, START.day, 12, tzinfo=TZ) + timedelta(days=day, seconds=second)).isoformat()
    eid = f"lat:{s}:{day}:{k}"
    value_b = orjson.dumps(
        {
            "event_id": eid,
            "type": "app.metric",
            "source": "bench-latency",
            "ts": ts,
            "app_id": app_id(s),
            "platform": "all",
            "country": "cn",
            "metric": "downloads",
            "value": round(value, 3),
            "period": "day",
            "mode": mode,
        }
    )
    return eid, f"{app_id(s)}|cn".encode(), value_b


def plan(series: int, events: int, day: int) -> tuple[list, list[str]]:
    """(events of ``day`` in send order, ids of the events that must fire). Every series
    has flat history before ``day`` (the 7 flat days, then earlier steady days whose
    totals do not move the median)."""
    base = [20_000.0 + (s % 50) * 1_000.0 for s in range(series)]
    per_series = max(3, events // series)
    fire_at = {s: 1 + (s * 7919 + day) % (per_series - 2) for s in range(0, series, SPIKE_EVERY)}
    steady = []
    for k in range(per_series):
        for s in range(series):
            big = fire_at.get(s) == k
            value = 2.2 * base[s] if big else base[s] / (4 * per_series)
            steady.append(_event(s, k, day, value, "delta", second=k))
    return steady, [f"lat:{s}:{day}:{k}" for s, k in fire_at.items()]


def history(series: int) -> list:
    base = [20_000.0 + (s % 50) * 1_000.0 for s in range(series)]
    return [_event(s, 0, d, base[s], "total") for d in range(FLAT_DAYS) for s in range(series)]


async def _run(
    bootstrap: str, procs: Procs, prefix: str, group: str, series: int, steps: list[tuple[float, float]], drain: float
) -> list[dict]:
    """``steps``: (rate, seconds), one day each, in one worker, drained in between."""
    from aiokafka import AIOKafkaProducer

    topic = f"{prefix}events.metrics"
    secret = new_secret()
    sent_at: dict[str, float] = {}
    got: dict[str, tuple[float | None, float | None]] = {}  # event id -> (from observed_at, from send)

    def on_delivery(payload: dict, latency: float | None) -> None:
        now = time.time()
        eid = payload.get("data", {}).get("source_event_id", "")
        mine = sent_at.get(eid)
        got[eid] = (latency, now - mine if mine else None)

    receiver = Receiver(secret, on_delivery)
    url = await receiver.start(free_port())
    worker = start_worker(
        procs,
        "latency-worker",
        bootstrap,
        prefix,
        group,
        APPWATCH_WEBHOOK_URL=url,
        APPWATCH_WEBHOOK_SECRET=secret,
        APPWATCH_ALLOW_HOSTS="127.0.0.1",
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    client = httpx.AsyncClient(timeout=2.0)

    async def consumed() -> float:
        try:
            text = (await client.get(f"http://127.0.0.1:{worker.port}/metrics")).text
        except httpx.HTTPError:
            return 0.0
        return sum(
            float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("appwatch_events_total{")
        )

    async def drained(total: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while await consumed() < total:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.25)
        return True

    results = []
    try:
        await asyncio.to_thread(wait_ready, worker, 90)
        await producer.start()
        hist = history(series)
        for _, key, value in hist:
            await producer.send(topic, value, key=key)
        await producer.flush()
        produced = len(hist)
        if not await drained(produced, 60):
            raise TimeoutError("the worker did not consume the history within 60s")
        loop = asyncio.get_running_loop()
        for step, (rate, seconds) in enumerate(steps):
            steady, firing = plan(series, int(rate * seconds), FLAT_DAYS + step)
            expected = len(firing)
            t0 = loop.time()
            wall0 = time.time()
            i = 0
            while i < len(steady):  # every TICK, the events due by then (rate x elapsed)
                due = min(len(steady), int((loop.time() - t0) * rate) + 1)
                for eid, key, value in steady[i:due]:
                    sent_at[eid] = time.time()
                    await producer.send(topic, value, key=key)
                i = max(i, due)
                await asyncio.sleep(TICK)
            await producer.flush()
            send_s = time.time() - wall0
            produced += len(steady)
            behind = produced - await consumed()
            deadline = time.monotonic() + drain
            while sum(e in got for e in firing) < expected and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            ended = time.time()
            # an alert that did not come within the drain counts with a lower bound: until now
            from_observed = [
                got[e][0] * 1000 if e in got and got[e][0] is not None else (ended - sent_at[e]) * 1000 for e in firing
            ]
            from_send = [got[e][1] * 1000 for e in firing if e in got and got[e][1] is not None]
            received = sum(e in got for e in firing)
            results.append(
                {
                    "series": series,
                    "rate_per_s": rate,
                    "events": len(steady),
                    "history_events": len(hist),
                    "send_s": round(send_s, 2),
                    "achieved_rate_per_s": round(len(steady) / send_s, 1),
                    "events_behind_when_sending_ended": int(behind),
                    "alerts_expected": expected,
                    "alerts_received": received,
                    "missing_counted_as_lower_bound": expected - received,
                    "alert_fraction_of_events": round(expected / len(steady), 5),
                    "p50_ms": percentile(from_observed, 50),
                    "p95_ms": percentile(from_observed, 95),
                    "p99_ms": percentile(from_observed, 99),
                    "max_ms": max(from_observed, default=None),
                    "p50_ms_from_send": percentile(from_send, 50),
                    "p99_ms_from_send": percentile(from_send, 99),
                    "latencies_ms": [round(x, 1) for x in from_observed],
                }
            )
            if step + 1 < len(steps):
                if not await drained(produced, drain + 30):
                    break  # the next rate would start behind a backlog
                await asyncio.sleep(1.0)  # the alerts of this day leave the control and alerts topics
        return results
    finally:
        await client.aclose()
        await producer.stop()
        procs.stop(worker, timeout=2)
        await receiver.stop()


def run(
    bootstrap: str,
    procs: Procs,
    prefix: str,
    group: str,
    *,
    series: int,
    steps: list[tuple[float, float]],
    drain: float,
) -> list[dict]:
    return asyncio.run(_run(bootstrap, procs, prefix, group, series, steps, drain))
