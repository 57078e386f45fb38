"""Run connector instances: one poll each (``run_once``) or a daemon loop (``run_forever``).

Per poll of an instance:
1. load its checkpoint (``<state_dir>/<name>.json``);
2. ``connector.poll(ctx)`` -> events (errors it caught are counted, the rest goes on);
3. drop events whose id was already published (ids remembered in the checkpoint);
4. publish the new ones (``send`` each, then ``flush``);
5. only then save the checkpoint: seen ids, ETags/Last-Modified, connector state.

A failing poll is counted and never stops the runner; a poll that outlives its
instance's ``deadline`` is given up; an instance that is not configured (a missing
vendor token) is skipped with one warning. Delivery is at least once: a crash between
4 and 5 republishes those events, with the same ids.

Outcomes: ok, partial (some of the source failed), skipped (not configured), error,
interrupted (``stop`` came first).

After each poll the runner also writes the instance's status (``status_record``) to the
compacted ``connectors.status`` topic, keyed by its name, when the publisher has
``send_raw`` and ``topics`` (``connectors.publish.Publisher`` has); a failure to write it
is a warning, never a failed poll.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson
from prometheus_client import CollectorRegistry

from connectors import catalog as catalog_mod
from connectors.base import Connector, Context, in_thread
from connectors.checkpoint import SEEN_LIMIT, Checkpoint
from connectors.config import Instance
from connectors.errors import NotConfigured, SourceError
from connectors.http import Http, HttpOptions
from connectors.metrics import ConnectorMetrics
from connectors.publish import publish_acked
from core.events import Event, InvalidEvent, validate

log = logging.getLogger(__name__)

DEFAULT_STATE_DIR = Path(".appwatch/connectors")
STATUS_TIMEOUT = 5.0  # seconds a status record may take to be acknowledged


class Publisher(Protocol):
    """``connectors.publish.Publisher``, or a list-collecting fake in tests."""

    def send(self, ev: Event) -> Any: ...
    def flush(self) -> None: ...


@dataclass
class PollResult:
    name: str
    outcome: str  # ok | partial | skipped | error | interrupted
    published: int = 0
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)  # "reason: message"
    ended: float | None = None  # unix time the poll ended (None: it did not, or crashed)

    @property
    def ok(self) -> bool:
        """Everything the instance is configured for was fetched (or it is not configured)."""
        return self.outcome in ("ok", "skipped")


class Runner:
    def __init__(
        self,
        instances: Sequence[Instance],
        publisher: Publisher,
        *,
        state_dir: str | Path,
        registry: CollectorRegistry,
        catalog: catalog_mod.Catalog | None = None,
        kinds: Mapping[str, type[Connector]] | None = None,
        http: HttpOptions | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        seen_limit: int = SEEN_LIMIT,
    ) -> None:
        from connectors.registry import KINDS

        kinds = kinds or KINDS
        catalog = catalog or catalog_mod.shipped()
        self.instances = list(instances)
        self.connectors: dict[str, Connector] = {i.name: kinds[i.kind](i.params, catalog) for i in self.instances}
        self.publisher = publisher
        self.state_dir = Path(state_dir)
        self.metrics = ConnectorMetrics(registry)
        self.http = Http(http, transport=transport, sleep=sleep, clock=clock, rng=rng)
        self.clock, self.sleep, self.rng = clock, sleep, rng
        self.seen_limit = seen_limit
        self.last_ok: dict[str, float] = {}  # instance -> end of its last ok poll (this process)

    async def __aenter__(self) -> Runner:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    def checkpoint_path(self, name: str) -> Path:
        return self.state_dir / f"{name}.json"

    async def run_once(self, stop: asyncio.Event | None = None) -> list[PollResult]:
        """Poll every instance once, concurrently; when ``stop`` is set first, the polls still
        running are cancelled and reported ``interrupted``."""
        tasks = [asyncio.ensure_future(self.poll(i)) for i in self.instances]
        await _until(asyncio.gather(*tasks, return_exceptions=True), stop)
        out = []
        for inst, task in zip(self.instances, tasks, strict=True):
            if not task.done() or task.cancelled():
                task.cancel()
                out.append(PollResult(inst.name, "interrupted", errors=["interrupted: stopped before the poll ended"]))
            elif task.exception() is not None:
                out.append(PollResult(inst.name, "error", errors=[f"crash: {task.exception()!r}"]))
            else:
                out.append(task.result())
        await asyncio.gather(*(self.report(inst, r, None) for inst, r in zip(self.instances, out, strict=True)))
        return out

    async def run_forever(self, stop: asyncio.Event | None = None) -> None:
        """Poll each instance now, then every ``interval`` (+/- jitter) until ``stop`` is set;
        a poll in progress when it is set is cancelled."""
        stop = stop or asyncio.Event()
        await asyncio.gather(*(self._loop(i, stop) for i in self.instances))

    async def _loop(self, inst: Instance, stop: asyncio.Event) -> None:
        while not stop.is_set():
            poll = asyncio.ensure_future(self.poll(inst))
            try:
                if not await _until(poll, stop):
                    result = PollResult(inst.name, "interrupted", errors=["interrupted: stopped before the poll ended"])
                    await self.report(inst, result, None)
                    return
                result = poll.result()
            except Exception as exc:  # noqa: BLE001 - e.g. an unwritable state dir; try again later
                log.exception("connector %s: poll failed", inst.name)
                self.metrics.errors.labels(inst.name, "crash").inc()
                self.metrics.polls.labels(inst.name, "error").inc()
                result = PollResult(inst.name, "error", errors=[f"crash: {exc!r}"])
            delay = self.delay(inst)
            await self.report(inst, result, self.clock() + delay)
            if await self._wait(delay, stop):
                return

    def delay(self, inst: Instance) -> float:
        return max(0.0, inst.interval * (1 + inst.jitter * (2 * self.rng() - 1)))

    async def _wait(self, seconds: float, stop: asyncio.Event) -> bool:
        """Sleep (the injected sleep) unless ``stop`` comes first; True when stopped."""
        sleeper = asyncio.ensure_future(self.sleep(seconds))
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for t in (sleeper, stopper):
            t.cancel()
        await asyncio.gather(sleeper, stopper, return_exceptions=True)
        return stop.is_set()

    async def poll(self, inst: Instance) -> PollResult:
        """One poll of one instance; never raises for a source, payload or publish failure."""
        name, m = inst.name, self.metrics
        result = PollResult(name, "ok")
        path = self.checkpoint_path(name)
        try:
            cp = Checkpoint.load(path, seen_limit=self.seen_limit)
        except OSError as exc:
            cp = Checkpoint(path)
            return self._done(
                result, Context(name, self.http, cp, self.clock()), failed=("checkpoint", f"{path}: {exc}")
            )
        ctx = Context(name, self.http, cp, self.clock())
        try:
            events = await asyncio.wait_for(self.connectors[name].poll(ctx), inst.deadline)
        except NotConfigured as exc:
            log.warning("connector %s: skipped: %s", name, exc)
            result.outcome, result.errors, result.ended = "skipped", [f"skipped: {exc}"], self.clock()
            m.polls.labels(name, "skipped").inc()
            return result
        except TimeoutError:
            return self._done(
                result,
                ctx,
                failed=("deadline", f"the poll did not end within its deadline ({inst.deadline:g}s); given up"),
            )
        except Exception as exc:  # noqa: BLE001 - a connector bug must not stop the others
            if isinstance(exc, SourceError):
                reason = exc.reason
            elif isinstance(exc, InvalidEvent):
                reason = "invalid_event"
            else:
                reason = "crash"
                log.exception("connector %s: poll crashed", name)
            return self._done(result, ctx, failed=(reason, str(exc) or repr(exc)))

        new, seen_now = [], set()
        for ev in self._valid(ctx, events):
            if cp.seen(ev.event_id) or ev.event_id in seen_now:
                result.duplicates += 1
                continue
            seen_now.add(ev.event_id)
            new.append(ev)
        try:
            await in_thread(self._publish, new)
        except Exception as exc:  # noqa: BLE001 - counted; the checkpoint is not advanced
            log.error("connector %s: publishing %d events failed: %r", name, len(new), exc)
            return self._done(result, ctx, failed=("publish", repr(exc)))
        result.published = len(new)
        m.events.labels(name).inc(len(new))
        m.duplicates.labels(name).inc(result.duplicates)

        cp.remember(ev.event_id for ev in new)
        ctx.commit()
        try:
            cp.save()
        except OSError as exc:
            return self._done(result, ctx, failed=("checkpoint", f"{cp.path}: {exc}"))
        return self._done(result, ctx)

    def status_record(self, inst: Instance, result: PollResult, next_run: float | None) -> dict:
        """The status of one poll as the ``connectors.status`` topic holds it."""
        now = result.ended or self.clock()
        if result.outcome == "ok":
            self.last_ok[inst.name] = now
        return {
            "name": inst.name,
            "kind": inst.kind,
            "outcome": result.outcome,
            "last_fetch": now,
            "last_ok": self.last_ok.get(inst.name),
            "last_error": result.errors[0] if result.errors else None,
            "published": result.published,
            "duplicates": result.duplicates,
            "next_run": next_run,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }

    async def report(self, inst: Instance, result: PollResult, next_run: float | None) -> None:
        """Write the poll's status record; a failure is logged, never raised."""
        record = self.status_record(inst, result, next_run)
        send, topics = getattr(self.publisher, "send_raw", None), getattr(self.publisher, "topics", None)
        if send is None or topics is None:
            return  # a fake publisher in tests: no status topic
        try:
            await asyncio.wait_for(
                in_thread(self._send_status, topics.connectors_status, inst.name, orjson.dumps(record)), STATUS_TIMEOUT
            )
        except Exception as exc:  # noqa: BLE001 - the status is a report; the poll stands
            log.warning("connector %s: writing its status failed: %r", inst.name, exc)

    def _send_status(self, topic: str, name: str, value: bytes) -> None:
        future = self.publisher.send_raw(topic, value, name.encode())
        self.publisher.flush()
        if future is not None and callable(getattr(future, "failed", None)) and future.failed():
            raise future.exception

    def _valid(self, ctx: Context, events: Iterable[Event | dict]) -> list[Event]:
        out = []
        for ev in events:
            try:
                out.append(validate(ev) if isinstance(ev, dict) else ev)
            except InvalidEvent as exc:
                ctx.failed(exc, f"event {ev.get('event_id', '?')!r}")
        return out

    def _publish(self, events: list[Event]) -> None:
        publish_acked(self.publisher, events)

    def _done(self, result: PollResult, ctx: Context, failed: tuple[str, str] | None = None) -> PollResult:
        m, name = self.metrics, result.name
        errors = [(e.reason, str(e)) for e in ctx.errors] + ([failed] if failed else [])
        for reason, _ in errors:
            m.errors.labels(name, reason).inc()
        result.errors = [f"{r}: {msg}" for r, msg in errors]
        got_nothing = ctx.fetched == 0 and result.published + result.duplicates == 0
        if failed or (errors and got_nothing):
            result.outcome = "error"
        elif errors:
            result.outcome = "partial"
        m.polls.labels(name, result.outcome).inc()
        result.ended = self.clock()
        if result.outcome != "error":
            m.last_success.labels(name).set(result.ended)
        log.log(
            logging.INFO if result.outcome == "ok" else logging.WARNING,
            "connector %s: %s, %d published, %d repeats, %d errors",
            name,
            result.outcome,
            result.published,
            result.duplicates,
            len(errors),
        )
        return result


async def _until(aw: Awaitable, stop: asyncio.Event | None) -> bool:
    """Await ``aw`` unless ``stop`` is set first; True if ``aw`` finished (its task is
    cancelled otherwise)."""
    task = asyncio.ensure_future(aw)
    if stop is None:
        await task
        return True
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task.done():
        task.result()
        return True
    task.cancel()
    return False


async def run(
    instances: Sequence[Instance],
    publisher: Publisher,
    *,
    once: bool,
    state_dir: str | Path = DEFAULT_STATE_DIR,
    registry: CollectorRegistry,
    stop: asyncio.Event | None = None,
    **kw: Any,
) -> list[PollResult]:
    """What a CLI calls: poll every instance once (results returned), or loop until ``stop``."""
    async with Runner(instances, publisher, state_dir=state_dir, registry=registry, **kw) as r:
        if once:
            return await r.run_once(stop)
        await r.run_forever(stop)
        return []
