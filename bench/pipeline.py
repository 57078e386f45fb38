"""Time a consumer group over a pre-produced backlog: from its first consume to its last
committed offset.

The events are in the topic before the consumers start. The first consume comes from
the consumer itself (appwatch: its ``appwatch_events_total`` turning non-zero; Quix: the
job's status file); the end is the group's committed offsets reaching, on every
partition, the offset after the last record the broker acknowledged (not the end
offsets, which Tansu reports wrong). Also CPU seconds and RSS of the consumer
processes, so that "cost per event" is CPU per event, not only wall time on a shared
machine.

A run that reaches ``timeout`` stops there (``complete`` false): its rate and CPU per
event are over the events the consumers counted by then (appwatch's
``appwatch_events_total``, the Quix job's own count), and the slope of the committed
offsets between the first and the last commit seen is kept beside it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import psutil

from bench.procs import Proc, Procs, metric, start_worker
from bench.workload import Committed

POLL = 0.05


@dataclass
class Run:
    events: int
    workers: int = 1
    complete: bool = False
    startup_s: float | None = None  # process start -> first consume
    committed_events: int = 0
    elapsed_s: float | None = None  # first consume -> last committed offset (or timeout)
    events_per_s: float | None = None
    committed_events_per_s: float | None = None  # a stopped run: the slope of its commits
    cpu_s: float = 0.0
    cpu_us_per_event: float | None = None
    rss_idle_mb: float = 0.0
    rss_end_mb: float = 0.0
    rss_peak_mb: float = 0.0
    counted: float | None = None  # appwatch_events_total at the end (a check)
    curve: list[tuple[float, int]] = field(default_factory=list)  # (s since first consume, committed)
    error: str | None = None

    def summary(self) -> dict:
        d = dict(self.__dict__)
        d.pop("curve")
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in d.items()}


def rss_mb(ps: list[psutil.Process]) -> float:
    total = 0
    for p in ps:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def cpu_s(ps: list[psutil.Process]) -> float:
    total = 0.0
    for p in ps:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _slope(curve: list[tuple[float, int]]) -> float | None:
    """Events/s between the first and the last change of the committed offsets."""
    changes = [curve[i] for i in range(1, len(curve)) if curve[i][1] != curve[i - 1][1]]
    changes = [c for c in changes if c[1] > 0]
    if len(changes) < 2 or changes[-1][0] <= changes[0][0]:
        return None
    return (changes[-1][1] - changes[0][1]) / (changes[-1][0] - changes[0][0])


def measure(
    procs: list[Proc],
    group: str,
    topic: str,
    n: int,
    ends: dict[int, int],
    probe: Committed,
    first: Callable[[], tuple[float, float] | None],
    timeout: float,
    startup_timeout: float = 90.0,
    idle: Callable[[], bool] | None = None,
    stop_at: int | None = None,
) -> Run:
    """``first()``: None until the consumers consumed, then (monotonic time, events done then).
    ``idle()``: true once the consumers are ready (their RSS is sampled then, once)."""
    r = Run(events=n, workers=len(procs))
    t0 = time.monotonic()
    ps = [psutil.Process(p.pid) for p in procs]
    start = c0 = cpu0 = None
    while True:
        now = time.monotonic()
        dead = [p for p in procs if not p.alive()]
        if dead:
            raise RuntimeError(f"{dead[0].name} exited {dead[0].popen.returncode}: {dead[0].tail()}")
        if start is None:
            if idle and not r.rss_idle_mb and idle():
                r.rss_idle_mb = rss_mb(ps)  # the first sample once ready, before the first consume
            got = first()
            if got is None:
                if now - t0 > startup_timeout:
                    raise TimeoutError(f"no consume after {startup_timeout:.0f}s: {procs[0].tail()}")
            else:
                start, c0 = got
                r.consumed_before_start = c0
                cpu0 = cpu_s(ps)
                r.startup_s = start - t0
        if start is not None:
            committed, done = probe.done(group, topic, ends)
            r.curve.append((round(now - start, 3), committed))
            r.rss_peak_mb = max(r.rss_peak_mb, rss_mb(ps))
            r.committed_events = committed
            if done:
                r.complete = True
                r.elapsed_s = now - start
                r.events_per_s = (n - c0) / max(now - start, 1e-9)
                break
            if now - start > timeout or (stop_at and committed >= stop_at):
                r.elapsed_s = now - start
                r.events_per_s = _slope(r.curve) or max(0, committed - c0) / (now - start)
                why = f"the {timeout:.0f}s cap" if now - start > timeout else f"{stop_at} events (enough)"
                r.error = f"stopped at {why}: {committed} of {n} events committed"
                break
        time.sleep(POLL)
    used = cpu_s(ps) - (cpu0 or 0.0)
    r.cpu_s = used
    done_events = (n if r.complete else r.committed_events) - (c0 or 0)
    r.cpu_us_per_event = used / max(done_events, 1) * 1e6
    r.rss_end_mb = rss_mb(ps)
    r.rss_peak_mb = max(r.rss_peak_mb, r.rss_end_mb)
    return r


def processed_end(r: Run) -> None:
    """A stopped run: its CPU was spent on what it processed (``counted``), which runs ahead
    of what it committed (a commit waits for the changelog writes), so CPU per event and
    the rate are over ``counted``; the committed slope stays in ``committed_events_per_s``."""
    if r.complete or not r.counted or not r.elapsed_s:
        return
    done = r.counted - r.consumed_before_start
    if done <= 0:
        return
    r.committed_events_per_s = r.events_per_s
    r.events_per_s = done / r.elapsed_s
    r.cpu_us_per_event = r.cpu_s / done * 1e6


def run_workers(
    procs: Procs,
    bootstrap: str,
    prefix: str,
    group: str,
    topic: str,
    n: int,
    ends: dict[int, int],
    *,
    workers: int = 1,
    timeout: float = 300.0,
    name: str = "worker",
    extra_env: dict[str, str] | None = None,
    on_started=None,
    stop_at: int | None = None,
) -> tuple[Run, list[Proc]]:
    """``workers`` appwatch workers in one group on the backlog. The first consume is
    when every worker is ready and ``appwatch_events_total`` is above zero; /metrics
    is polled only until then: it holds one gauge per series
    (``appwatch_app_downloads``), so each scrape costs the worker O(series) time (42%
    of its CPU when polled every 0.2 s with 10k series). The workers are left running."""
    ws = [start_worker(procs, f"{name}-{i}", bootstrap, prefix, group, **(extra_env or {})) for i in range(workers)]
    client = httpx.Client(timeout=2.0)
    probe = Committed(bootstrap)
    ready = [False] * workers

    def poll_ready() -> bool:
        for i, w in enumerate(ws):
            if not ready[i]:
                try:
                    ready[i] = bool(client.get(f"http://127.0.0.1:{w.port}/healthz").json().get("ready"))
                except (httpx.HTTPError, ValueError):
                    pass
        return all(ready)

    def first():
        if not all(ready):
            return None
        counted = sum(metric(client, w, "appwatch_events_total") for w in ws)
        if counted <= 0:
            return None
        if on_started:
            on_started(ws)
        return time.monotonic(), counted

    def idle() -> bool:
        return poll_ready()

    try:
        # the event topics are read by the detect stage, in its own group (streams/stage.py)
        r = measure(ws, f"{group}-detect", topic, n, ends, probe, first, timeout, idle=idle, stop_at=stop_at)
        r.counted = sum(metric(client, w, "appwatch_events_total") for w in ws)
        processed_end(r)
        return r, ws
    finally:
        client.close()
        probe.close()
