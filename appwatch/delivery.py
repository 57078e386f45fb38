"""The alerts pipeline, built one way for the worker, the demo and ``appwatch alerts
check-config``/``test``: the alerts config's receivers with their secrets read and their
URLs checked, or, without a config, the worker's settings (console, APPWATCH_ALERTS_JSONL,
APPWATCH_WEBHOOK_URL), each a receiver of its own.

    InvalidDelivery    the config, a secret it names or a receiver URL is wrong; the
                       message names the file and line, the field or the variable
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry

from alerts.config import AlertsConfig
from alerts.dispatch import deliver
from alerts.metrics import DeliveryMetrics
from alerts.notify import BaseNotifier, Notifier
from alerts.notify.console import ConsoleNotifier
from alerts.notify.jsonl import JsonlNotifier
from alerts.notify.webhook import WebhookNotifier
from alerts.pipeline import Pipeline, build, fanout
from core import yamlfile
from core.alert import Alert, alert_id
from core.retry import RetryPolicy
from core.secrets import Registers, SecretError
from core.ssrf import BlockedURL
from core.yamlfile import ConfigError
from streams.settings import Settings

DEFAULT_REPEAT = 4 * 3600.0  # Alertmanager's repeat_interval when a route sets none
TEST_POLICY = RetryPolicy(max_attempts=3, initial=0.5)  # appwatch alerts test: a few quick tries


class InvalidDelivery(ValueError):
    pass


@dataclass(frozen=True)
class Delivery:
    config: AlertsConfig
    receivers: dict[str, list[Notifier]]
    source: str  # the config file, or what in the settings the receivers came from

    def factory(self):
        """``(metrics, **stores) -> Pipeline``, as the worker's ``create_app`` takes it."""
        return lambda metrics, **stores: Pipeline(self.config, self.receivers, metrics, **stores)

    async def aclose(self) -> None:
        """Close the receivers' HTTP clients."""
        for n in {id(n): n for ns in self.receivers.values() for n in ns}.values():
            if isinstance(n, BaseNotifier):
                await n.aclose()

    async def send_test(self, receiver: str, policy: RetryPolicy = TEST_POLICY) -> dict[str, str]:
        """A test notification through each integration of ``receiver``: notifier name ->
        outcome (sent, failed, gave_up ...), as the dispatcher counts it."""
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        labels = {"app_id": "appwatch", "receiver": receiver}
        alert = Alert(
            alert_id=alert_id("appwatch-test", labels, now),
            rule="appwatch-test",
            kind="test",
            severity="info",
            labels=labels,
            event_ts=now,
            summary=f"Test notification from appwatch to receiver {receiver}",
        )
        metrics = DeliveryMetrics(CollectorRegistry())
        notifiers = self.receivers[receiver]
        outcomes = await asyncio.gather(*(deliver(n, alert, policy, metrics) for n in notifiers))
        return {n.name: outcome for n, outcome in zip(notifiers, outcomes, strict=True)}

    def unsigned(self) -> list[str]:
        """The webhooks that go out without a signature."""
        return [n.name for ns in self.receivers.values() for n in ns if isinstance(n, WebhookNotifier) and not n.signed]

    def longest_repeat(self) -> float:
        """The longest repeat_interval of the routes: how long a group must remember."""

        def walk(route, inherited: float) -> list[float]:
            here = route.repeat_interval or inherited
            return [here, *(x for child in route.routes for x in walk(child, here))]

        return max(walk(self.config.route, DEFAULT_REPEAT))


def from_config(
    config: AlertsConfig, allow_hosts: Sequence[str], console=None, source: str = "", redactor: Registers | None = None
) -> Delivery:
    """The receivers of ``config``; the secrets they read are registered with ``redactor``."""
    hosts = [*config.allow_hosts, *allow_hosts]
    try:
        receivers = {r.name: build(r, hosts, console, redactor) for r in config.receivers}
    except (SecretError, BlockedURL) as exc:
        raise InvalidDelivery(f"{source}: {exc}" if source else str(exc)) from None
    return Delivery(config, receivers, source)


def from_file(path: Path, allow_hosts: Sequence[str], console=None, redactor: Registers | None = None) -> Delivery:
    try:
        config = yamlfile.load(path, AlertsConfig)
    except ConfigError as exc:
        raise InvalidDelivery(str(exc)) from None
    return from_config(config, allow_hosts, console, str(path), redactor)


def from_settings(s: Settings, console=None, redactor: Registers | None = None) -> Delivery:
    """APPWATCH_ALERTS_CONFIG when it is set; else each of the console (APPWATCH_CONSOLE),
    APPWATCH_ALERTS_JSONL and APPWATCH_WEBHOOK_URL as a receiver of its own."""
    if s.alerts_config:
        return from_file(s.alerts_config, s.allow_hosts, console, redactor)
    notifiers: list[Notifier] = [ConsoleNotifier(console)] if s.console else []
    if s.alerts_jsonl:
        notifiers.append(JsonlNotifier(s.alerts_jsonl))
    if s.webhook_url:
        secret = s.webhook_secret.get_secret_value() if s.webhook_secret else None
        try:
            notifiers.append(WebhookNotifier("webhook", s.webhook_url, secret, allow_hosts=s.allow_hosts))
        except BlockedURL as exc:
            raise InvalidDelivery(f"APPWATCH_WEBHOOK_URL: {exc}") from None
    config, receivers = fanout(notifiers)
    return Delivery(config, receivers, "settings")
