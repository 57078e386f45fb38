"""Run a Faust app inside our own asyncio loop, with our own signal handling."""

from __future__ import annotations

import asyncio
import logging

import faust

log = logging.getLogger(__name__)


class _Worker(faust.Worker):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spinner = None  # it writes terminal escapes to stdout

    def install_signal_handlers(self) -> None:
        """The CLI owns SIGINT/SIGTERM; it stops the worker with a timeout."""


async def start(app: faust.App, ready_timeout: float = 60.0) -> faust.Worker:
    worker = _Worker(
        app, daemon=False, override_logging=False, redirect_stdouts=False, quiet=True, loop=asyncio.get_running_loop()
    )
    await worker.start()
    deadline = asyncio.get_running_loop().time() + ready_timeout
    while app.appwatch.not_ready():
        if worker.crash_reason:
            raise RuntimeError(f"worker crashed: {worker.crash_reason}")
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"worker not ready after {ready_timeout}s (broker {app.conf.broker})")
        await asyncio.sleep(0.05)
    return worker


async def stop(worker: faust.Worker, timeout: float = 10.0) -> None:
    """Faust can hang on stop; give up after ``timeout`` seconds."""
    try:
        await asyncio.wait_for(worker.stop(), timeout)
    except (TimeoutError, Exception) as exc:  # noqa: BLE001 - shutting down anyway
        log.warning("worker did not stop cleanly: %r", exc)
