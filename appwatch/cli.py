"""The `appwatch` command line: the composition root that wires everything together."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress

from alerts.yamlfile import ConfigError
from streams.settings import Settings

cli = typer.Typer(help="appwatch: event-stream monitoring and alerting for the AI-app market.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def settings(**overrides) -> Settings:
    """Settings from APPWATCH_* plus CLI flags; a bad value exits 2 with a readable message."""
    try:
        s = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err.print("[bold red]configuration error[/]")
        for e in exc.errors(include_url=False):
            name = "APPWATCH_" + "_".join(map(str, e["loc"])).upper()
            err.print(f"  {name}: {e['msg']}")
        raise typer.Exit(2) from None
    logging.basicConfig(level=s.log_level.upper(), stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.WARNING)
    return s


@contextmanager
def broker_for(s: Settings) -> Iterator[Settings]:
    """Use APPWATCH_BROKER, or start the embedded Tansu broker for the duration."""
    from appwatch import broker

    if s.broker:
        broker.create_topics(s.bootstrap, _topics(s), s.partitions)
        yield s
        return
    log = Path(os.environ.get("APPWATCH_BROKER_LOG", os.devnull))
    with broker.embedded(log=log if log.name != os.devnull else None) as bootstrap:
        err.print(f"[dim]embedded Tansu broker on {bootstrap} (memory only: "
                  "everything is lost when it stops)[/]")
        s = s.model_copy(update={"broker": f"kafka://{bootstrap}", "broker_flavor": "tansu"})
        broker.create_topics(bootstrap, _topics(s), s.partitions)
        yield s


def _topics(s: Settings):
    from streams.events import Topics

    return Topics(s.topic_prefix)


def _stop_event() -> asyncio.Event:
    """SIGINT/SIGTERM set the event; a second one exits at once."""
    stop, loop = asyncio.Event(), asyncio.get_running_loop()

    def handle() -> None:
        if stop.is_set():
            os._exit(130)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handle)
    return stop


@cli.command()
def broker(port: int = typer.Option(9092, help="Port on 127.0.0.1"),
           partitions: int = typer.Option(4, help="Partitions of the topics it creates")) -> None:
    """Run the embedded Tansu broker in the foreground and print its bootstrap address."""
    from appwatch.broker import create_topics, embedded
    from streams.events import Topics

    s = settings(partitions=partitions)
    with embedded(port) as bootstrap:
        created = create_topics(bootstrap, Topics(s.topic_prefix), s.partitions)
        out.print(f"bootstrap: {bootstrap}")
        out.print(f"export APPWATCH_BROKER=kafka://{bootstrap} APPWATCH_BROKER_FLAVOR=tansu")
        out.print(f"[dim]topics: {', '.join(created)}; memory only; Ctrl-C stops[/]")
        try:
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        except KeyboardInterrupt:
            pass


@cli.command()
def worker(
    rules: Optional[Path] = typer.Option(None, help="Rules YAML (default: the shipped pack)"),
    webhook_url: Optional[str] = typer.Option(None, help="Signed webhook receiver URL"),
    web_port: Optional[int] = typer.Option(None, help="Port for /metrics and /healthz"),
) -> None:
    """Run the Faust worker: detect, alert and deliver."""
    from alerts.notify.console import ConsoleNotifier
    from alerts.notify.webhook import WebhookNotifier
    from appwatch import runner
    from streams.app import create_app

    s = settings(rules=rules, webhook_url=webhook_url, web_port=web_port)
    _check_rules(s)

    async def serve(s: Settings) -> None:
        stop = _stop_event()
        notifiers = [ConsoleNotifier(out)] if s.console else []
        if s.webhook_url:
            secret = s.webhook_secret.get_secret_value() if s.webhook_secret else None
            notifiers.append(WebhookNotifier("webhook", s.webhook_url, secret))
        app = create_app(s, notifiers=notifiers)
        w = await runner.start(app)
        err.print(f"worker ready: group {s.group}, metrics http://{s.web_host}:{s.web_port}/metrics")
        await stop.wait()
        await runner.stop(w)

    with broker_for(s) as s:
        asyncio.run(serve(s))


@cli.command()
def demo(
    webhook_url: Optional[str] = typer.Option(
        None, help="Send alerts here too (default: a built-in receiver that verifies signatures)"),
    duration: Optional[float] = typer.Option(
        None, help="Stop after this many seconds (default: run until Ctrl-C)"),
    live_seconds: float = typer.Option(20.0, help="How long the live day takes to publish"),
    web_port: Optional[int] = typer.Option(None, help="Port for /metrics and /healthz"),
    export: Optional[Path] = typer.Option(None, help="Write the scenario as JSONL and exit"),
) -> None:
    """Start broker, worker and the seed scenario end to end; print alerts as they fire."""
    if export:
        _export(export)
        return
    from appwatch import demo as demo_mod

    s = settings(web_port=web_port)
    _check_rules(s)
    if web_port is None and not _port_free(s.web_host, s.web_port):
        from appwatch.broker import free_port

        s = s.model_copy(update={"web_port": free_port()})
    secret = s.webhook_secret.get_secret_value() if s.webhook_secret else None

    async def main(s: Settings) -> None:
        await demo_mod.run(s, out, webhook_url=webhook_url or s.webhook_url, webhook_secret=secret,
                           duration=duration, live_seconds=live_seconds, stop=_stop_event())

    with broker_for(s) as s:
        asyncio.run(main(s))


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind((host, port))
            return True
        except OSError:
            return False


def _export(path: Path) -> None:
    from connectors import demo as scenario

    with path.open("wb") as f:
        for ev in scenario.events():
            f.write(ev.to_json() + b"\n")
        for _, raw in scenario.malformed():
            f.write(raw.replace(b"\n", b" ") + b"\n")
    out.print(f"wrote {path}")


@cli.command()
def publish(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSONL of events"),
    raw: bool = typer.Option(False, help="Publish lines as they are, invalid ones too (to see the DLQ)"),
) -> None:
    """Publish a JSONL file of events to Kafka, with a progress bar."""
    from connectors.publish import Publisher
    from streams.events import InvalidEvent, Topics, decode

    s = settings()
    if not s.broker:
        err.print("[red]APPWATCH_BROKER is not set[/]: start one with `appwatch broker`")
        raise typer.Exit(2)
    topics = Topics(s.topic_prefix)
    lines = file.read_bytes().splitlines()
    bad = sent = 0
    with Publisher(s.bootstrap, topics) as pub, Progress(console=err) as progress:
        task = progress.add_task(f"publishing {file.name}", total=len(lines))
        for n, line in enumerate(lines, 1):
            progress.advance(task)
            if not line.strip():
                continue
            try:
                pub.send(decode(line))
                sent += 1
            except InvalidEvent as exc:
                bad += 1
                err.print(f"{file}:{n}: {exc}")
                if raw:
                    pub.send_raw(topics.for_event(_type_of(line)), line)
                    sent += 1
        pub.flush()
    err.print(f"published {sent} events to {s.bootstrap}, {bad} invalid")
    raise typer.Exit(1 if bad and not raw else 0)


def _type_of(line: bytes) -> dict:
    try:
        obj = orjson.loads(line)
        return obj if isinstance(obj, dict) else {}
    except orjson.JSONDecodeError:
        return {}


@cli.command()
def backtest(
    events: Path = typer.Option(..., exists=True, dir_okay=False, help="JSONL of events"),
    rules: Optional[Path] = typer.Option(None, help="Rules YAML (default: the shipped pack)"),
) -> None:
    """Run the detectors over a file with no Kafka; print one alert JSON per line."""
    from streams import backtest as bt
    from streams import rules as rules_mod

    started = time.monotonic()
    with _rules_errors():
        ruleset = rules_mod.load(rules)
    with events.open("rb") as f:
        result = bt.run(f, ruleset)
    for n, msg in result.errors:
        err.print(f"{events}:{n}: {msg}", highlight=False, markup=False)
    for alert in result.alerts:
        sys.stdout.buffer.write(alert.to_json() + b"\n")
    sys.stdout.flush()
    err.print(f"{result.events} events, {len(result.errors)} invalid, {len(result.alerts)} alerts "
              f"({len(ruleset.rules)} rules) in {time.monotonic() - started:.2f}s")
    raise typer.Exit(1 if result.errors else 0)


def _check_rules(s: Settings) -> None:
    """Fail at start-up, before any broker starts, on a bad rules file."""
    from streams import rules as rules_mod

    with _rules_errors():
        rules_mod.load(s.rules)


@contextmanager
def _rules_errors() -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        err.print(f"[bold red]invalid rules[/]\n{exc}", highlight=False)
        raise typer.Exit(2) from None


def main() -> None:
    cli()
