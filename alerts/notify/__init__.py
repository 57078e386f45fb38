"""Notifiers share one interface: ``await notify(alerts) -> DeliveryError | None``.

``alerts`` is one notification: a group of alerts (often just one). A notifier sends it
as its integration does (Slack: one message; Alertmanager: one POST of the list; a
webhook or PagerDuty: one request per alert, stopping at the first failure) and never
raises for a delivery problem; it returns it:
    None                   delivered
    a ``DeliveryError``    not delivered; ``retryable`` (5xx, 429, timeout, connection
                           error: try again, after ``retry_after`` seconds if set),
                           ``permanent`` (410: disable the receiver), else not retried
                           (other 4xx, bad config: do not try again)

Every notifier has a ``name`` (the receiver's metric label), a ``kind`` (its integration:
webhook, slack ...) and a ``resend_interval``: seconds between re-pushes of firing alerts
for integrations that want them (Alertmanager), None for the others. ``BaseNotifier``
gives the defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.alert import Alert
from core.retry import DeliveryError

Result = DeliveryError | None


class Notifier(Protocol):
    name: str
    kind: str
    resend_interval: float | None

    async def notify(self, alerts: Sequence[Alert]) -> Result: ...


class BaseNotifier:
    """The attributes every notifier has, with their defaults; subclasses set ``name``
    (in ``__init__``) and ``kind``, and implement ``notify``."""

    name: str
    kind: str = "custom"  # the integration: the metrics' ``integration`` label
    resend_interval: float | None = None  # None: no re-pushes

    async def notify(self, alerts: Sequence[Alert]) -> Result:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release what the notifier holds (its HTTP client); nothing by default."""


class OneByOne(BaseNotifier):
    """An integration that takes one alert a request (a webhook, PagerDuty): a group goes
    out in order and stops at the first failure, which is the group's."""

    async def notify(self, alerts: Sequence[Alert]) -> Result:
        for alert in alerts:
            err = await self._send(alert)
            if err is not None:
                return err
        return None

    async def _send(self, alert: Alert) -> Result:
        raise NotImplementedError
