"""Notifiers share one interface: ``await notify(alert) -> (retry, error)``.

A notifier never raises for a delivery problem; it returns it:
    (False, None)  delivered
    (True, err)    transient (5xx, 429, timeout, connection error): try again
    (False, err)   permanent (other 4xx, bad config): do not try again
"""

from __future__ import annotations

from typing import Protocol

from core.alert import Alert

Result = tuple[bool, Exception | None]


class Notifier(Protocol):
    name: str

    async def notify(self, alert: Alert) -> Result: ...
