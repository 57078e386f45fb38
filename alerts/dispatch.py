"""Deliver one notification to one notifier, with retries (the retry policy of a receiver).

Dedup and crash safety live one level up: the worker's ``delivered`` and ``outbox``
tables (see ``streams.app``); a re-send after a crash carries the same ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from tenacity import (
    AsyncRetrying,
    retry_if_result,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential_jitter,
)

from alerts.metrics import DeliveryMetrics
from core.alert import Alert
from alerts.notify import Notifier, Result
from core.ssrf import BlockedAddress

log = logging.getLogger(__name__)
OnFailed = Callable[[Notifier, Alert, Exception], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 20  # 0.5+1+...+16 s, then every 30 s: about 7 minutes in all
    initial: float = 0.5  # seconds before the first retry, doubling after
    max_wait: float = 30.0
    max_age: float = 600.0  # give up after this long in total


async def deliver(
    notifier: Notifier,
    alert: Alert,
    policy: RetryPolicy,
    metrics: DeliveryMetrics,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    disabled: set[str] | None = None,
    on_failed: OnFailed | None = None,
) -> str:
    """Deliver with backoff; return the outcome: ``sent``, ``failed``, ``gave_up``,
    ``gone`` (410: the receiver is disabled from now on) or ``disabled``.

    ``on_failed(notifier, alert, error)`` gets every notification that will not be
    delivered, for the notifications DLQ: the permanent failures (other 4xx, 410) and
    those given up after the last retry (a receiver down longer than the policy's
    attempts span, about a minute with the defaults): after either, nothing else
    keeps the alert (the worker's outbox entry is cleared once delivery has ended).
    """
    if disabled is not None and notifier.name in disabled:
        metrics.notifications.labels(notifier.name, integration(notifier), "disabled").inc()
        return "disabled"

    async def attempt() -> Result:
        metrics.attempts.labels(notifier.name).inc()
        return await notifier.notify(alert)

    started = time.monotonic()
    backoff = wait_exponential_jitter(initial=policy.initial, max=policy.max_wait, jitter=policy.initial)

    def wait(state) -> float:
        """The backoff, or longer when the receiver said Retry-After (429, 503)."""
        hint = getattr(state.outcome.result()[1], "retry_after", None)
        return max(backoff(state), min(float(hint), policy.max_age)) if hint else backoff(state)

    retrying = AsyncRetrying(
        stop=stop_after_attempt(policy.max_attempts) | stop_after_delay(policy.max_age),
        wait=wait,
        retry=retry_if_result(lambda r: r[0] and not isinstance(r[1], BlockedAddress)),
        retry_error_callback=lambda state: state.outcome.result(),
        sleep=sleep,
        before_sleep=lambda s: log.warning(
            "%s: attempt %d for %s failed: %s", notifier.name, s.attempt_number,
            alert.alert_id, s.outcome.result()[1]),
    )
    metrics.in_flight.labels(notifier.name).inc()
    try:
        retry, err = await retrying(attempt)
    finally:
        metrics.in_flight.labels(notifier.name).dec()
    retry = retry and not isinstance(err, BlockedAddress)  # a refused address is final
    outcome = "sent" if err is None else ("gave_up" if retry else "failed")
    if err is not None and (getattr(err, "gone", False) or getattr(err, "status", None) == 410):
        outcome = "gone"
        if disabled is not None:
            disabled.add(notifier.name)
        metrics.disabled.labels(notifier.name).set(1)
        log.error("%s: the receiver answered 410 Gone; it is disabled until restart", notifier.name)
    if err is not None:
        log.error("%s: %s %s: %s", notifier.name, outcome, alert.alert_id, err)
        if on_failed is not None and outcome in ("failed", "gone", "gave_up"):
            await on_failed(notifier, alert, err)
    metrics.notifications.labels(notifier.name, integration(notifier), outcome).inc()
    metrics.latency.labels(notifier.name).observe(time.monotonic() - started)
    return outcome


def integration(notifier: Notifier) -> str:
    """webhook, slack, alertmanager, pagerduty, console, jsonl ... from the class name."""
    inner = getattr(notifier, "inner", notifier)  # through adapters
    return type(inner).__name__.removesuffix("Notifier").lower() or "custom"
