"""Retry-After, shared by every HTTP client here (notifiers and connectors). Pure."""

from __future__ import annotations

import math
from email.utils import parsedate_to_datetime

RETRY_STATUS = frozenset({408, 425, 429})


def retryable(status: int) -> bool:
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
