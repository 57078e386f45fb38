"""The long-running commands: worker, demo, serve, broker, receive."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import typer
from rich.markup import escape

from appwatch.cli.common import (
    EMBEDDED,
    STOP_GRACE,
    broker_for,
    check_rules,
    cli,
    companies,
    delivery_for,
    err,
    exit_if_stuck,
    need_broker,
    need_port,
    out,
    port_free,
    settings,
    stop_event,
    topics_of,
)
from streams.settings import Settings


@cli.command()
def receive(
    port: int = typer.Option(8000, help="Port on 127.0.0.1"),
    path: str = typer.Option("/hook", help="Where the webhooks arrive"),
) -> None:
    """A local signed-webhook receiver: verifies each request with APPWATCH_WEBHOOK_SECRET
    (401 on a bad signature), dedups by webhook-id and prints the alert."""
    from alerts.notify.console import line
    from appwatch.receiver import Receiver
    from core.alert import Alert

    s = settings()
    if s.webhook_secret is None:
        err.print("[red]APPWATCH_WEBHOOK_SECRET is not set[/]: the receiver verifies signatures with it")
        raise typer.Exit(2)

    def show(payload: dict, _latency) -> None:
        out.print(f"{payload['type']} {line(Alert.model_validate(payload['data']))}", highlight=False, soft_wrap=True)

    async def main() -> None:
        stop = stop_event()
        receiver = Receiver(s.webhook_secret.get_secret_value(), show, path=path)
        try:
            url = await receiver.start(port)
        except OSError as exc:
            err.print(f"[red]cannot listen on 127.0.0.1:{port}[/]: {exc.strerror}")
            raise typer.Exit(2) from None
        out.print(f"receiving signed webhooks on {url}", highlight=False)
        try:
            await stop.wait()
        finally:
            await receiver.stop()

    asyncio.run(main())


@cli.command()
def broker(
    port: int = typer.Option(9092, help="Port on 127.0.0.1"),
    partitions: int = typer.Option(4, help="Partitions of the topics it creates"),
) -> None:
    """Run the embedded Tansu broker in the foreground and print its bootstrap address."""
    from appwatch.broker import BrokerError, create_topics, embedded
    from core.events import Topics

    s = settings(partitions=partitions)
    # SIGINT and SIGTERM wait for sigwait below, so that the broker child is always stopped
    # (the child takes them again, and dies with this process: appwatch/broker.py)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        with embedded(port) as bootstrap:
            created = create_topics(bootstrap, Topics(s.topic_prefix), s.partitions)
            out.print(f"bootstrap: {bootstrap}")
            out.print(f"export APPWATCH_BROKER=kafka://{bootstrap} APPWATCH_BROKER_FLAVOR=tansu")
            out.print(f"[dim]topics: {', '.join(created)}; memory only; Ctrl-C stops[/]")
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    except BrokerError as exc:
        err.print(f"[bold red]{escape(str(exc))}[/]", highlight=False)
        raise typer.Exit(2) from None


@cli.command()
def worker(
    rules: Path | None = typer.Option(None, help="Rules YAML (default: the shipped pack)"),
    webhook_url: str | None = typer.Option(None, help="Signed webhook receiver URL"),
    web_port: int | None = typer.Option(None, help="Port for /metrics and /healthz"),
    embedded: bool = EMBEDDED,
) -> None:
    """Run the Faust worker: detect, alert and deliver."""
    s = settings(rules=rules, webhook_url=webhook_url, web_port=web_port)
    need_broker(s, embedded)
    check_rules(s)
    need_port(s)
    delivery = delivery_for(s)  # a bad alerts config fails before any broker starts
    with broker_for(s, embedded) as s:
        asyncio.run(_run_worker(s, delivery))


async def _run_worker(s: Settings, delivery) -> None:
    from appwatch import runner
    from appwatch.worker import create_app

    stop = stop_event()
    w = await runner.start(create_app(s, pipeline_factory=delivery.factory(), companies=companies()))
    err.print(f"worker ready: group {s.group}, metrics http://{s.web_host}:{s.web_port}/metrics")
    await stop.wait()
    exit_if_stuck(STOP_GRACE)
    await runner.stop(w)
    await delivery.aclose()


@cli.command()
def demo(
    webhook_url: str | None = typer.Option(
        None, help="Send alerts here too (default: a built-in receiver that verifies signatures)"
    ),
    duration: float | None = typer.Option(None, help="Stop after this many seconds (default: run until Ctrl-C)"),
    live_seconds: float = typer.Option(20.0, help="How long the live day takes to publish"),
    web_port: int | None = typer.Option(None, help="Port for /metrics and /healthz"),
    export: Path | None = typer.Option(None, help="Write the scenario as JSONL and exit"),
) -> None:
    """Start broker, worker and the seed scenario end to end; print alerts as they fire."""
    if export:
        _export(export)
        return
    from appwatch import demo as demo_mod

    s = settings(web_port=web_port)
    check_rules(s)
    if webhook_url:
        from core.ssrf import BlockedURL, Guard

        try:
            Guard(frozenset(s.allow_hosts)).check_url(webhook_url)
        except BlockedURL as exc:
            err.print(f"[red]--webhook-url refused[/]: {escape(str(exc))} (APPWATCH_ALLOW_HOSTS lists hosts to permit)")
            raise typer.Exit(2) from None
    if web_port is None and not port_free(s.web_host, s.web_port):
        from appwatch.broker import free_port

        s = s.model_copy(update={"web_port": free_port()})
    need_port(s)
    secret = s.webhook_secret.get_secret_value() if s.webhook_secret else None

    async def main(s: Settings) -> None:
        await demo_mod.run(
            s,
            out,
            webhook_url=webhook_url or s.webhook_url,
            webhook_secret=secret,
            duration=duration,
            live_seconds=live_seconds,
            stop=stop_event(),
        )

    with broker_for(s, demo=True) as s:
        asyncio.run(main(s))


def _export(path: Path) -> None:
    from connectors import demo as scenario

    with path.open("wb") as f:
        for ev in scenario.events():
            f.write(ev.to_json() + b"\n")
        for _, raw in scenario.malformed():
            f.write(raw.replace(b"\n", b" ") + b"\n")
    out.print(f"wrote {path}")


@cli.command()
def serve(
    port: int = typer.Option(8080, help="Port to listen on"),
    host: str = typer.Option("127.0.0.1", help="Address to listen on"),
    max_body: int = typer.Option(1_000_000, help="Largest request body in bytes"),
    embedded: bool = EMBEDDED,
) -> None:
    """HTTP ingest: POST /v1/events (JSON or NDJSON, bearer token) -> Kafka; /healthz, /metrics, /docs."""
    import uvicorn

    from connectors import ingest
    from connectors.publish import Publisher

    s = settings()
    need_broker(s, embedded)
    from core.auth import Tokens

    tokens = Tokens.from_settings(s)
    if not (tokens.write or tokens.ingest):
        err.print(
            "[red]no token may post events[/]: set APPWATCH_INGEST_TOKEN (posting only) or APPWATCH_API_WRITE_TOKENS"
        )
        raise typer.Exit(2)
    with broker_for(s, embedded) as s, Publisher(s.bootstrap, topics_of(s), **s.kafka_config()) as pub:
        app = ingest.create_app(pub, tokens, max_body=max_body)
        err.print(f"ingest on http://{host}:{port}/v1/events (API docs at /docs, OpenAPI at /openapi.json)")
        uvicorn.run(app, host=host, port=port, log_level=s.log_level)
