"""`appwatch demo`: worker + seed scenario + a verifying webhook receiver, in one process."""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import threading
import time
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from pydantic import SecretStr
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from alerts.config import AlertsConfig
from appwatch import runner
from appwatch.broker import free_port
from appwatch.delivery import from_config
from appwatch.receiver import Receiver, new_secret
from appwatch.worker import create_app
from connectors import catalog
from connectors import demo as scenario
from connectors.publish import Publisher
from core.auth import ConsoleUser
from core.events import Topics
from streams.settings import Settings

SLACK_URL_ENV, WEBHOOK_SECRET_ENV = "APPWATCH_DEMO_SLACK_URL", "APPWATCH_DEMO_WEBHOOK_SECRET"


def routes(webhook_url: str, signed: bool) -> AlertsConfig:
    """Doubao alerts also go to a Slack-shaped receiver (the market desk); everything goes to
    the console and the signed webhook. One notification per alert, sent at once. Secrets
    come from the environment, as in any alerts config."""
    webhook = {"url": webhook_url, **({"secret_env": WEBHOOK_SECRET_ENV} if signed else {})}
    return AlertsConfig.model_validate(
        {
            "route": {
                "receiver": "everything",
                "group_by": ["alert_id"],
                "group_wait": "0s",
                "group_interval": "1s",
                "routes": [
                    {"matchers": ['app_id="doubao"'], "receiver": "market-slack", "continue": True},
                    {"receiver": "everything"},
                ],
            },
            "receivers": [
                {"name": "market-slack", "slack_configs": [{"url_env": SLACK_URL_ENV}]},
                {"name": "everything", "console_configs": [{}], "webhook_configs": [webhook]},
            ],
            "allow_hosts": ["127.0.0.1"],
        }
    )  # our own receivers


def with_login(settings: Settings) -> tuple[Settings, str | None]:
    """The settings with a console login ``demo`` (write) and a fresh password, unless
    APPWATCH_CONSOLE_USERS names logins already; (settings, the password or None)."""
    secret = settings.console_secret or SecretStr(secrets.token_urlsafe(32))
    if settings.console_users:
        return settings.model_copy(update={"console_secret": secret}), None
    password = secrets.token_urlsafe(9)
    user = ConsoleUser(name="demo", password=password, scope="write")
    return settings.model_copy(update={"console_users": [user], "console_secret": secret}), password


@dataclass
class Stats:
    published: int = 0
    malformed: int = 0
    latencies: list[float] = field(default_factory=list)


def publish(settings: Settings, progress: Progress, stop: threading.Event, live_seconds: float, stats: Stats) -> None:
    """Publish the scenario: history as fast as it goes, then the live day paced."""
    topics = Topics(settings.topic_prefix)
    history = list(scenario.history())
    live = list(scenario.live())
    with Publisher(settings.bootstrap, topics, **settings.kafka_config()) as pub:
        task = progress.add_task("history (60 days)", total=len(history))
        for ev in history:
            pub.send(ev)
            stats.published += 1
            progress.advance(task)
        for suffix, raw in scenario.malformed():
            pub.send_raw(topics.prefix + suffix, raw)
            stats.malformed += 1
        pub.flush()
        task = progress.add_task(f"live day {scenario.LIVE_DAY}", total=len(live))
        per_step = len(scenario.APPS)
        for i in range(0, len(live), per_step):
            if stop.wait(live_seconds / scenario.LIVE_STEPS):
                return
            for ev in live[i : i + per_step]:
                pub.send(ev)
                stats.published += 1
            pub.flush()
            progress.advance(task, per_step)


async def run(
    settings: Settings,
    console: Console,
    *,
    webhook_url: str | None,
    webhook_secret: str | None,
    duration: float | None,
    live_seconds: float,
    stop: asyncio.Event,
) -> Stats:
    stats = Stats()
    settings, password = with_login(settings)
    own_secret = webhook_secret if webhook_url and webhook_secret else new_secret()

    def on_delivery(payload: dict, latency: float | None) -> None:
        data = payload["data"]
        ms = f"{latency * 1000:.0f} ms after its event" if latency is not None else ""
        if latency is not None:
            stats.latencies.append(latency)
        console.print(
            f"  [green]webhook[/] {payload['type']} {data['alert_id'][:12]} signature verified, {ms}", highlight=False
        )

    def on_slack(payload: dict) -> None:
        header = next((b["text"]["text"] for b in payload.get("blocks", []) if b["type"] == "header"), "")
        console.print(f"  [magenta]slack[/] #market-desk: {escape(header)}", highlight=False)

    receiver = Receiver(own_secret, on_delivery, on_slack)
    own_url = await receiver.start(free_port())
    if webhook_url is None:
        webhook_url, webhook_secret = own_url, own_secret
    registry = CollectorRegistry()
    os.environ[SLACK_URL_ENV] = own_url.replace("/hook", "/slack")
    if webhook_secret:
        os.environ[WEBHOOK_SECRET_ENV] = webhook_secret
    config = routes(webhook_url, signed=webhook_secret is not None)
    delivery = from_config(config, settings.allow_hosts, console, "<demo routes>")
    app = create_app(
        settings, registry=registry, companies=catalog.shipped().companies(), pipeline_factory=delivery.factory()
    )
    web = f"http://{settings.web_host}:{settings.web_port}"
    console.print(
        f"[bold]appwatch demo[/]  broker {settings.bootstrap}  metrics {web}/metrics  webhook {webhook_url}",
        highlight=False,
    )
    worker = await runner.start(app)
    login = f"login demo / {password}" if password else "log in as one of APPWATCH_CONSOLE_USERS"
    console.print(f"[bold]console[/] {web}/  {login}", highlight=False)
    started = time.monotonic()
    halt = threading.Event()
    try:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
        ) as progress:
            publisher = asyncio.create_task(asyncio.to_thread(publish, settings, progress, halt, live_seconds, stats))
            await asyncio.wait([publisher, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)
            halt.set()
            await publisher
        if not stop.is_set():
            left = None if duration is None else max(0.0, duration - (time.monotonic() - started))
            console.print(
                "scenario published; "
                + ("serving metrics until Ctrl-C" if left is None else f"stopping in {left:.0f}s")
            )
            try:
                await asyncio.wait_for(stop.wait(), left)
            except TimeoutError:
                pass
    finally:
        await runner.stop(worker)
        await delivery.aclose()
        await receiver.stop()
    summary(console, registry, stats)
    return stats


def summary(console: Console, registry: CollectorRegistry, stats: Stats) -> None:
    def total(name: str) -> int:
        return int(
            sum(s.value for m in registry.collect() if m.name == name for s in m.samples if s.name == name + "_total")
        )

    table = Table(title="demo summary", show_header=False)
    table.add_row("events published", f"{stats.published} valid + {stats.malformed} malformed")
    table.add_row("events consumed", str(total("appwatch_events")))
    table.add_row("invalid -> DLQ", str(total("appwatch_events_invalid")))
    table.add_row("alerts fired", str(total("appwatch_alerts")))
    table.add_row("notifications", str(total("appwatch_notifications")))
    if stats.latencies:
        table.add_row(
            "event -> webhook",
            f"p50 {statistics.median(stats.latencies) * 1000:.0f} ms, max {max(stats.latencies) * 1000:.0f} ms",
        )
    console.print(table)
