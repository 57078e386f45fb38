"""What a connector is: a ``kind``, a pydantic ``Params`` model and ``async poll(ctx)``.

A connector fetches (through ``ctx.get_json``, or ``ctx.get_bytes`` for feeds) and
maps raw payloads to contract events. It does not publish, retry, dedupe or
checkpoint: the runner does that.

To keep going after one bad part of a poll (one chart, one country), catch the
``SourceError`` and call ``ctx.failed(exc)``: the error is counted and the events
already mapped are still published. Anything else a poll raises fails the whole
poll (counted; nothing from that poll is published).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from connectors.catalog import Catalog
from connectors.checkpoint import Checkpoint
from connectors.errors import PayloadError, SourceError
from connectors.http import Http, Response
from core.events import Event, InvalidEvent, event_id, validate

log = logging.getLogger(__name__)


# ISO 3166 alpha-2, lower-cased (as in the contract); "CN" in a config is accepted
Country = Annotated[
    str, BeforeValidator(lambda v: v.lower() if isinstance(v, str) else v), Field(pattern=r"^[a-z]{2}$")
]


def catalog_apps(platform: str) -> AfterValidator:
    """Validate a list of catalog app_ids that have a store id on ``platform``."""

    def check(v: list[str]) -> list[str]:
        from connectors.catalog import shipped

        cat = shipped()
        for app_id in v:
            app = cat.get(app_id)
            if app is None or platform not in app.stores:
                raise ValueError(
                    f"{app_id!r} has no {platform} id in the catalog (known: {', '.join(sorted(cat.apps))})"
                )
        return v

    return AfterValidator(check)


class Params(BaseModel):
    """Base for connector params: unknown keys are config errors."""

    model_config = ConfigDict(extra="forbid")


class Connector:
    kind: ClassVar[str]
    Params: ClassVar[type[BaseModel]] = Params

    def __init__(self, params: BaseModel, catalog: Catalog) -> None:
        self.params = params
        self.catalog = catalog

    async def poll(self, ctx: Context) -> list[Event]:
        raise NotImplementedError

    # helpers for mapping

    def event_id(self, *parts: object) -> str:
        return event_id(self.kind, *parts)

    def event(self, **fields: Any) -> Event:
        """Validate one contract event (``source`` is the kind); InvalidEvent if it is not."""
        return validate({"source": self.kind, **fields})


class Context:
    """One poll of one connector instance: HTTP, its checkpoint, the poll time, errors."""

    def __init__(self, name: str, http: Http, checkpoint: Checkpoint, now: float) -> None:
        self.name = name
        self.http = http
        self.checkpoint = checkpoint
        self.now = datetime.fromtimestamp(now, UTC)
        self.errors: list[SourceError] = []
        self.fetched = 0  # responses that arrived (304 included)
        self._validators: dict[str, dict[str, str]] = {}  # committed after publishing

    @property
    def state(self) -> dict:
        """The connector's own checkpoint data (read/write; saved after a good poll)."""
        return self.checkpoint.data

    async def get_json(self, url: str, params: dict | None = None) -> Any | None:
        """The decoded JSON, or None when the source says nothing changed (304)."""
        full = self.http.url(url, params)
        resp = await self.http.get_json(url, params, self.checkpoint.http.get(full))
        self.fetched += 1
        if resp.not_modified:
            return None
        self._validators[resp.url] = resp.validators
        return resp.data

    async def get_bytes(self, url: str, params: dict | None = None, accept: str | None = None) -> Response | None:
        """The response (``data`` is the body bytes, plus ``content_type``), or None on 304."""
        full = self.http.url(url, params)
        resp = await self.http.get_bytes(url, params, self.checkpoint.http.get(full), accept)
        self.fetched += 1
        if resp.not_modified:
            return None
        self._validators[resp.url] = resp.validators
        return resp

    def failed(self, exc: SourceError | InvalidEvent, where: str = "") -> None:
        """Count a non-fatal error; the rest of the poll goes on."""
        if isinstance(exc, InvalidEvent):
            exc = PayloadError(f"{where}: invalid event: {exc}" if where else str(exc), "invalid_event")
        log.warning("connector %s: %s", self.name, exc)
        self.errors.append(exc)
        if exc.url:  # fetch that URL in full next time, not conditionally
            self._validators.pop(exc.url, None)

    def commit(self) -> None:
        """Remember the validators of what was fetched (call once it is published)."""
        for url, v in self._validators.items():
            if v:
                self.checkpoint.http[url] = v
            else:
                self.checkpoint.http.pop(url, None)


async def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a daemon thread of its own. ``asyncio.to_thread`` uses the
    loop's executor, which ``asyncio.run`` waits for at exit: one call that never returns
    (a library with no socket timeout) kept ``connect --once`` alive for good. A daemon
    thread cannot; the caller's ``wait_for`` or deadline gives up on the call."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if not future.done():
            future.set_exception(error) if error is not None else future.set_result(result)

    def run() -> None:
        try:
            result, error = fn(*args, **kwargs), None
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            result, error = None, exc
        try:
            loop.call_soon_threadsafe(settle, result, error)
        except RuntimeError:  # the loop is gone: nobody waits any more
            pass

    threading.Thread(target=run, daemon=True, name=f"in-thread-{getattr(fn, '__name__', 'call')}").start()
    return await future
