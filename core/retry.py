"""The one retry rule of every HTTP client here (notifiers and connectors). Pure.

- ``RETRY_STATUS`` / ``retryable_status(status)``: which HTTP answers are worth another
  try: 408, 425, 429 and every 5xx;
- ``retry_after(header, now)``: the seconds a ``Retry-After`` header asks for;
- ``DeliveryError``: the one error base class. Every notifier returns one (never raises
  it), ``core.ssrf.BlockedAddress`` is one. Its attributes say what to do with it:
  ``retryable``, ``retry_after`` (seconds), ``permanent`` (410 Gone and the like: disable the
  receiver) and ``status`` (the HTTP status, if any);
- ``RetryPolicy`` and ``next_wait(attempt, error, policy, ...)``: how long to wait before
  the next attempt, or None to give up. No clock and no randomness of its own: the
  caller passes the time spent so far and a random source.

Transport errors (httpx timeouts, connection errors ...) count as retryable.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar

import httpx

RETRY_STATUS = frozenset({408, 425, 429})
GONE_STATUS = frozenset({410})

E = TypeVar("E", bound="DeliveryError")


def retryable_status(status: int) -> bool:
    """Whether an HTTP error status is worth another try: 408, 425, 429 and every 5xx."""
    return status in RETRY_STATUS or status >= 500


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


class _Response(Protocol):  # what from_response reads of an httpx.Response
    status_code: int
    headers: Any


class DeliveryError(Exception):
    """A delivery (or fetch) that did not happen, and what to do about it.

    ``retryable``    another attempt may succeed (408, 425, 429, 5xx, a transport error);
    ``retry_after``  the receiver asked for this many seconds before the next attempt;
    ``permanent``         410 Gone and the like: the receiver is disabled (never retried);
    ``status``       the HTTP status, when there was an answer.

    Unless given, ``retryable`` and ``permanent`` follow from ``status``. Subclasses may have
    their own constructors; to be built by ``from_status``/``from_response`` they take
    ``status`` and ``retry_after`` as keyword arguments.
    """

    retryable: bool = False
    retry_after: float | None = None
    permanent: bool = False
    status: int | None = None

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        permanent: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.permanent = (status in GONE_STATUS) if permanent is None else permanent
        if retryable is None:
            retryable = status is not None and retryable_status(status)
        self.retryable = retryable and not self.permanent
        self.retry_after = retry_after

    @classmethod
    def from_status(
        cls: type[E], status: int, retry_after_header: str | None = None, now: float = 0.0, **fields: Any
    ) -> E:
        """The error for an HTTP answer ``status``: retryable and permanent from the status,
        ``retry_after`` from the ``Retry-After`` header read at ``now`` (unix time).
        ``fields``: the subclass's own constructor arguments (``message``, ``body`` ...)."""
        return cls(status=status, retry_after=retry_after(retry_after_header, now), **fields)

    @classmethod
    def from_response(cls: type[E], resp: _Response, now: float, **fields: Any) -> E:
        """``from_status`` with an ``httpx.Response``'s status and ``Retry-After``."""
        return cls.from_status(resp.status_code, resp.headers.get("retry-after"), now, **fields)


def describe(exc: BaseException) -> str:
    """``ConnectError: refused`` (just the type name when the message is empty)."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def retryable_error(error: BaseException) -> bool:
    """Whether another attempt may succeed after ``error``: a ``DeliveryError`` says so
    itself; a transport error (timeout, connection refused or reset ...) is retryable,
    except a request httpx cannot make at all (a bad scheme, an invalid header);
    anything else is not."""
    if isinstance(error, DeliveryError):
        return error.retryable and not error.permanent
    if isinstance(error, (httpx.UnsupportedProtocol, httpx.LocalProtocolError)):
        return False
    return isinstance(error, (httpx.TransportError, ConnectionError, TimeoutError))


def as_delivery_error(
    exc: BaseException, *, retryable: bool | None = None, message: str | None = None
) -> DeliveryError:
    """``exc`` as a ``DeliveryError``: itself if it is one, else a new one whose cause is
    ``exc``, retryable as ``retryable_error`` says unless ``retryable`` is given.
    ``message``: instead of ``describe(exc)`` (to redact a secret from it, say)."""
    if isinstance(exc, DeliveryError):
        return exc
    err = DeliveryError(
        describe(exc) if message is None else message,
        retryable=retryable_error(exc) if retryable is None else retryable,
    )
    err.__cause__ = exc
    return err


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying. Defaults: the notifiers' (0.5 s doubling, waits of 30 s at
    most with 10 % jitter, 20 attempts: about 7 minutes, 10 at the very most)."""

    max_attempts: int = 20  # attempts in all, the first included
    initial: float = 0.5  # seconds before the first retry, doubling after
    max_wait: float = 30.0  # the cap on the backoff
    max_age: float = 600.0  # no attempt starts later than this after the first one
    jitter: float = 0.1  # each backoff is moved at random by up to this fraction (then capped)
    max_retry_after: float | None = None  # the cap on a Retry-After; None: max_age

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not (self.initial >= 0 and self.max_wait >= 0 and self.max_age >= 0):
            raise ValueError("initial, max_wait and max_age must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be a fraction between 0 and 1")
        if self.max_retry_after is not None and not self.max_retry_after >= 0:
            raise ValueError("max_retry_after must not be negative")

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """The wait after failed attempt number ``attempt`` (1-based) without Retry-After:
        ``initial * 2 ** (attempt - 1)`` moved by +/- ``jitter`` of it, within [0, max_wait]."""
        base = min(self.max_wait, self.initial * 2.0 ** min(max(attempt - 1, 0), 1000))
        if self.jitter:
            base *= 1 + self.jitter * (2 * rand() - 1)
        return min(self.max_wait, max(0.0, base))


def next_wait(
    attempt: int,
    error: BaseException | None,
    policy: RetryPolicy,
    *,
    elapsed: float = 0.0,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None: give up (or nothing to retry).

    ``attempt``      the attempts made so far (1 after the first);
    ``error``        what the last one ended with (None: it succeeded, no retry);
    ``elapsed``      seconds since the first attempt started (the caller's clock);
    ``retry_after``  the receiver's Retry-After in seconds; default ``error.retry_after``;
    ``rand``         the random source of the jitter, uniform in [0, 1).

    None when the error is not retryable (or ``permanent``), after ``max_attempts``, or when the
    next attempt would start later than ``max_age`` after the first. Otherwise the backoff,
    or longer if Retry-After says so (capped at ``max_retry_after``, default ``max_age``).
    """
    if error is None or not retryable_error(error) or attempt >= policy.max_attempts:
        return None
    if retry_after is None and isinstance(error, DeliveryError):
        retry_after = error.retry_after
    wait = policy.backoff(attempt, rand)
    if retry_after is not None and math.isfinite(retry_after):
        cap = policy.max_age if policy.max_retry_after is None else policy.max_retry_after
        wait = max(wait, min(max(retry_after, 0.0), cap))
    if elapsed + wait > policy.max_age:
        return None
    return wait
