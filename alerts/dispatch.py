"""Deliver one notification to one notifier, with retries (the retry policy of a receiver).

The waits and when to give up are ``core.retry.next_wait``'s, with a ``core.retry.RetryPolicy``.

Dedup and crash safety live one level up: the worker's ``delivered`` and ``outbox``
tables (see ``streams.app``); a re-send after a crash carries the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence

from alerts.metrics import DeliveryMetrics
from alerts.notify import Notifier
from core.alert import Alert
from core.retry import DeliveryError, RetryPolicy, as_delivery_error, next_wait

__all__ = ["OnFailed", "deliver", "integration"]

log = logging.getLogger(__name__)
OnFailed = Callable[[Notifier, Alert, DeliveryError], Awaitable[None]]


async def deliver(
    notifier: Notifier,
    alerts: Alert | Sequence[Alert],
    policy: RetryPolicy,
    metrics: DeliveryMetrics,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    disabled: set[str] | None = None,
    on_failed: OnFailed | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    rand: Callable[[], float] = random.random,
) -> str:
    """Deliver one notification (``alerts``: a group, or one alert) with backoff; return
    the outcome: ``sent``, ``failed``, ``gave_up``, ``permanent`` (410: the receiver is
    disabled from now on) or ``disabled``.

    ``on_failed(notifier, alert, error)`` gets every alert that will not be delivered, for
    the notifications DLQ: after a permanent failure (other 4xx, 410) or once retries are
    given up (a receiver down longer than the policy's attempts span, about 7 minutes with
    the defaults): after either, nothing else keeps the alert (the worker's outbox entry
    is cleared once delivery has ended). ``clock`` (seconds, for ``max_age``) and ``rand``
    (the jitter) are injectable, as ``sleep`` is.
    """
    batch = [alerts] if isinstance(alerts, Alert) else list(alerts)
    if disabled is not None and notifier.name in disabled:
        metrics.notifications.labels(notifier.name, integration(notifier), "disabled").inc()
        return "disabled"

    started = clock()
    err: DeliveryError | None = None
    metrics.in_flight.labels(notifier.name).inc()
    try:
        for attempt in range(1, policy.max_attempts + 1):
            metrics.attempts.labels(notifier.name).inc()
            try:
                result = await notifier.notify(batch)
            except Exception as exc:  # noqa: BLE001 - a notifier should return it; one that raises is treated alike
                result = exc
            err = None if result is None else as_delivery_error(result)
            wait = next_wait(attempt, err, policy, elapsed=clock() - started, rand=rand)
            if wait is None:
                break
            log.warning(
                "%s: attempt %d for %s failed: %s; next in %.2fs", notifier.name, attempt, _ids(batch), err, wait
            )
            await sleep(wait)
    finally:
        metrics.in_flight.labels(notifier.name).dec()

    if err is None:
        outcome = "sent"
    elif err.permanent:
        outcome = "gone"
        if disabled is not None:
            disabled.add(notifier.name)
        metrics.disabled.labels(notifier.name).set(1)
        log.error("%s: the receiver answered 410 Gone; it is disabled until restart", notifier.name)
    else:
        outcome = "gave_up" if err.retryable else "failed"
    if err is not None:
        log.error("%s: %s %s: %s", notifier.name, outcome, _ids(batch), err)
        if on_failed is not None:
            for alert in batch:
                await on_failed(notifier, alert, err)
    metrics.notifications.labels(notifier.name, integration(notifier), outcome).inc()
    metrics.latency.labels(notifier.name).observe(max(0.0, clock() - started))
    return outcome


def integration(notifier: Notifier) -> str:
    """webhook, slack, alertmanager, pagerduty, console, jsonl ...: the notifier's ``kind``."""
    return notifier.kind


def _ids(alerts: Sequence[Alert]) -> str:
    """The alert ids for a log line: ``id`` or ``id (+2 more)``."""
    if not alerts:
        return "(no alerts)"
    more = f" (+{len(alerts) - 1} more)" if len(alerts) > 1 else ""
    return alerts[0].alert_id + more
