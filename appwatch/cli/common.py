"""What every command shares: the consoles, settings with readable errors, the broker
(given or embedded), signals, and the checks a command runs before it starts."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from core.redact import RedactingFilter
from core.yamlfile import ConfigError
from streams.settings import Settings

cli = typer.Typer(
    help="appwatch: event-stream monitoring and alerting for the AI-app market.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


out = Console(soft_wrap=True)


err = Console(stderr=True, soft_wrap=True)


REDACTOR = RedactingFilter()  # on every log handler: settings and receivers' secrets


def settings(**overrides) -> Settings:
    """Settings from APPWATCH_* plus CLI flags; a bad value exits 2 with a readable message."""
    try:
        s = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        err.print("[bold red]configuration error[/]")
        for e in exc.errors(include_url=False):
            name = "APPWATCH_" + "_".join(map(str, e["loc"])).upper() + ": " if e["loc"] else ""
            err.print(f"  {name}{escape(e['msg'])}", highlight=False)
        raise typer.Exit(2) from None
    logging.basicConfig(
        level=s.log_level.upper(),
        stream=sys.stderr,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # at info it logs every request URL
    logging.getLogger("faust.transport.producer").setLevel(logging.ERROR)  # "buffer full" noise
    secrets = [
        x.get_secret_value()
        for x in (s.webhook_secret, s.ingest_token, s.sasl_password, *s.api_write_tokens, *s.api_read_tokens)
        if x
    ]
    REDACTOR.add(*secrets)
    for handler in logging.getLogger().handlers:  # on handlers: child loggers' records pass here
        handler.addFilter(REDACTOR)
    return s


EMBEDDED = typer.Option(
    False,
    "--embedded",
    help="Without APPWATCH_BROKER: a throwaway in-memory broker for this command only; "
    "nothing published to it outlives the command, and no checkpoint is written",
)


def need_broker(s: Settings, embedded: bool = False, what: str = "") -> None:
    """Refuse, before anything else happens, to run without a broker to keep the data."""
    if s.broker or embedded:
        return
    err.print(
        f"[bold red]APPWATCH_BROKER is not set[/]{what}: set it to your Kafka "
        "(APPWATCH_BROKER=kafka://host:9092), or start one with `appwatch broker`; "
        "--embedded runs against a throwaway in-memory broker instead",
        highlight=False,
    )
    raise typer.Exit(2)


@contextmanager
def broker_for(s: Settings, embedded: bool = False, demo: bool = False) -> Iterator[Settings]:
    """Use APPWATCH_BROKER; with ``embedded`` (or for the demo) without it, the embedded
    Tansu broker for the duration, loudly. Without either, refuse (``need_broker``)."""
    from appwatch import broker

    if s.broker:
        broker.create_topics(s.bootstrap, topics_of(s), s.partitions, s.replication_factor, **s.kafka_config())
        yield s
        return
    need_broker(s, embedded or demo)
    log = Path(os.environ.get("APPWATCH_BROKER_LOG", os.devnull))
    with broker.embedded(log=log if log.name != os.devnull else None) as bootstrap:
        if demo:
            err.print(f"[dim]embedded Tansu broker on {bootstrap} (memory only: everything is lost when it stops)[/]")
        else:
            err.print(
                f"[bold yellow]--embedded: a throwaway in-memory broker on {bootstrap}. Everything "
                "published to it is gone when this command ends, and no checkpoint is written.[/]",
                highlight=False,
            )
        s = s.model_copy(update={"broker": f"kafka://{bootstrap}", "broker_flavor": "tansu"})
        broker.create_topics(bootstrap, topics_of(s), s.partitions)
        yield s


def topics_of(s: Settings):
    from core.events import Topics

    return Topics(s.topic_prefix)


STOP_GRACE = 15.0  # seconds a stopping worker may take before it exits anyway


def exit_if_stuck(after: float) -> None:
    """Exit the process ``after`` seconds from now unless it has ended. Faust's consumer
    thread and tasks can outlive a stop whose broker went away at the same time, and the
    process would hang on them for good (seen: a worker alive 40 minutes after SIGTERM)."""
    import threading

    def give_up() -> None:
        err.print(f"[yellow]still stopping after {after:g}s (the broker may be gone): exiting[/]")
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(after, give_up)
    timer.daemon = True
    timer.start()


def stop_event() -> asyncio.Event:
    """SIGINT/SIGTERM set the event; a second one exits at once."""
    stop, loop = asyncio.Event(), asyncio.get_running_loop()

    def handle() -> None:
        if stop.is_set():
            os._exit(130)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handle)
    return stop


def port_free(host: str, port: int) -> bool:
    from appwatch import broker  # kafka-python: imported only by the commands that use Kafka

    return broker.port_free(host, port)


def need_port(s: Settings) -> None:
    """A busy metrics port fails at start-up, before any broker starts."""
    if not port_free(s.web_host, s.web_port):
        err.print(
            f"[bold red]port {s.web_port} on {s.web_host} is in use[/] (set APPWATCH_WEB_PORT or --web-port)",
            highlight=False,
        )
        raise typer.Exit(2)


def delivery_for(s: Settings, path: Path | None = None):
    """The alerts pipeline as the worker builds it (``appwatch.delivery``): from ``path``,
    APPWATCH_ALERTS_CONFIG or the settings; exit 2 naming the file, the line and the field,
    or the variable."""
    from appwatch import delivery

    if path is None and s.alerts_config and (s.webhook_url or s.alerts_jsonl):
        err.print(
            "[yellow]APPWATCH_ALERTS_CONFIG is set: APPWATCH_WEBHOOK_URL and APPWATCH_ALERTS_JSONL are "
            "not used; add them to the config's receivers[/]",
            highlight=False,
        )
    try:
        d = delivery.from_file(path, s.allow_hosts, out, REDACTOR) if path else delivery.from_settings(s, out, REDACTOR)
    except delivery.InvalidDelivery as exc:
        err.print(
            f"[bold red]invalid alerts config[/] {escape(str(path or s.alerts_config or ''))}\n{escape(str(exc))}",
            highlight=False,
        )
        raise typer.Exit(2) from None
    if d.unsigned():
        err.print(
            f"[yellow]warning: webhooks sent unsigned (no secret): {', '.join(d.unsigned())}; receivers "
            "cannot tell them from forgeries. Set APPWATCH_WEBHOOK_SECRET or the receiver's secret_env.[/]",
            highlight=False,
        )
    if s.delivered_retention <= d.longest_repeat():
        what = f"the longest repeat_interval of {d.source}" if s.alerts_config else "the default repeat_interval"
        err.print(
            f"[bold red]APPWATCH_DELIVERED_RETENTION[/] ({s.delivered_retention:g}s) must be longer than "
            f"{what} ({d.longest_repeat():g}s): a group forgets what it notified after it",
            highlight=False,
        )
        raise typer.Exit(2)
    return d


def companies() -> dict[str, str]:
    from connectors import catalog

    return catalog.shipped().companies()


def check_rules(s: Settings) -> None:
    """Fail at start-up, before any broker starts, on a bad rules file."""
    from streams import rules as rules_mod

    with rules_errors():
        rules_mod.load(s.rules)


@contextmanager
def rules_errors() -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        err.print(f"[bold red]invalid rules[/]\n{escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
