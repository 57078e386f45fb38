"""The `appwatch` command line: the composition root that wires everything together."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress

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
        broker.create_topics(s.bootstrap, _topics(s), s.partitions, s.replication_factor, **s.kafka_config())
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
        broker.create_topics(bootstrap, _topics(s), s.partitions)
        yield s


def _topics(s: Settings):
    from core.events import Topics

    return Topics(s.topic_prefix)


STOP_GRACE = 15.0  # seconds a stopping worker may take before it exits anyway


def _exit_if_stuck(after: float) -> None:
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
        stop = _stop_event()
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
    _check_rules(s)
    _need_port(s)
    delivery = _delivery(s)  # a bad alerts config fails before any broker starts
    with broker_for(s, embedded) as s:
        asyncio.run(_run_worker(s, delivery))


async def _run_worker(s: Settings, delivery) -> None:
    from appwatch import runner
    from appwatch.worker import create_app

    stop = _stop_event()
    w = await runner.start(create_app(s, pipeline_factory=delivery.factory(), companies=_companies()))
    err.print(f"worker ready: group {s.group}, metrics http://{s.web_host}:{s.web_port}/metrics")
    await stop.wait()
    _exit_if_stuck(STOP_GRACE)
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
    _check_rules(s)
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
    _need_port(s)
    secret = s.webhook_secret.get_secret_value() if s.webhook_secret else None

    async def main(s: Settings) -> None:
        await demo_mod.run(
            s,
            out,
            webhook_url=webhook_url or s.webhook_url,
            webhook_secret=secret,
            duration=duration,
            live_seconds=live_seconds,
            stop=_stop_event(),
        )

    with broker_for(s, demo=True) as s:
        asyncio.run(main(s))


def port_free(host: str, port: int) -> bool:
    from appwatch import broker  # kafka-python: imported only by the commands that use Kafka

    return broker.port_free(host, port)


def _need_port(s: Settings) -> None:
    """A busy metrics port fails at start-up, before any broker starts."""
    if not port_free(s.web_host, s.web_port):
        err.print(
            f"[bold red]port {s.web_port} on {s.web_host} is in use[/] (set APPWATCH_WEB_PORT or --web-port)",
            highlight=False,
        )
        raise typer.Exit(2)


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
    from connectors.publish import Publisher, publish_lines

    s = settings()
    need_broker(s)
    lines = file.read_bytes().splitlines()
    with Publisher(s.bootstrap, _topics(s), **s.kafka_config()) as pub, Progress(console=err) as progress:
        task = progress.add_task(f"publishing {file.name}", total=len(lines))
        sent, bad = publish_lines(
            pub,
            lines,
            raw=raw,
            on_invalid=lambda n, exc: err.print(f"{file}:{n}: {exc}", markup=False, highlight=False),
            on_line=lambda: progress.advance(task),
        )
    err.print(f"published {sent} events to {s.bootstrap}, {bad} invalid")
    raise typer.Exit(1 if bad and not raw else 0)


@cli.command("import")
def import_(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A .csv or .jsonl export"),
    map_: list[str] = typer.Option([], "--map", help="field=column: take a contract field from a column"),
    set_: list[str] = typer.Option([], "--set", help="field=value: a constant for every row"),
    timezone: str = typer.Option("Asia/Shanghai", help="Timezone of dates without a time"),
    restart: bool = typer.Option(False, help="Ignore the checkpoint and start from line 1"),
    state_dir: Path = typer.Option(Path(".appwatch"), help="Where checkpoints (and rejected rows) are kept"),
    workers: int = typer.Option(
        min(2, os.cpu_count() or 1), min=1, max=16, help="Processes, each publishing a shard of the series"
    ),
    embedded: bool = EMBEDDED,
) -> None:
    """Import a vendor export into Kafka: map columns, validate, publish, resume where it stopped."""
    from appwatch.broker import die_with_parent
    from connectors import catalog, file_import
    from connectors.publish import Publisher

    s = settings()
    need_broker(s, embedded)
    try:
        mapping = file_import.Mapping.parse(map_, set_, timezone)
    except Exception as exc:  # noqa: BLE001 - any bad flag is a usage error
        err.print(f"[red]bad mapping[/]: {escape(str(exc))}")
        raise typer.Exit(2) from None
    keep = None if embedded and not s.broker else state_dir  # a throwaway broker: no checkpoint
    if restart and keep:
        for i in range(workers):
            file_import.Checkpoint(keep, file, (i, workers)).save(0)
    total = file_import.count_lines(file)
    started = time.monotonic()
    try:
        with broker_for(s, embedded) as s, Progress(console=err) as progress:
            task = progress.add_task(f"importing {file.name}", total=total)
            show = lambda n: progress.update(task, completed=n)  # noqa: E731
            if workers == 1:
                with Publisher(s.bootstrap, _topics(s), **BULK, **s.kafka_config()) as pub:
                    summary = file_import.run(
                        file,
                        pub,
                        mapping,
                        catalog.shipped(),
                        file_import.Checkpoint(keep, file) if keep else None,
                        show,
                    )
            else:
                summary = file_import.run_parallel(
                    file,
                    s.bootstrap,
                    s.topic_prefix,
                    mapping,
                    keep,
                    workers,
                    {**BULK, **s.kafka_config()},
                    show,
                    die_with_parent,
                )
    except file_import.PublishError as exc:
        err.print(
            f"[bold red]publishing failed[/]: {escape(str(exc))}; the checkpoint stays where the broker last "
            "acknowledged everything: run the same command again",
            highlight=False,
        )
        raise typer.Exit(1) from None
    took = time.monotonic() - started
    for n, msg, _ in summary.invalid[:50]:
        err.print(f"{file}:{n}: {msg}", markup=False, highlight=False)
    if len(summary.invalid) > 50:
        err.print(f"... and {len(summary.invalid) - 50} more invalid lines")
    err.print(
        f"published {summary.published} events in {took:.1f}s "
        f"({summary.published / max(took, 1e-9):,.0f}/s), {len(summary.invalid)} invalid, "
        f"{summary.skipped} lines skipped (already imported)"
    )
    if summary.invalid:
        _rejected(file, summary, state_dir)
    raise typer.Exit(1 if summary.invalid else 0)


def _rejected(file: Path, summary, state_dir: Path) -> None:
    """Say where the invalid rows went (a JSONL of line, error and row) and where the next run starts."""
    from connectors import file_import

    path = file_import.write_rejected(summary, state_dir / f"rejected-{file.stem}.jsonl")
    first = summary.invalid[0][0]
    where = (
        "no checkpoint was kept (--embedded)"
        if summary.checkpoint is None
        else f"the checkpoint stays at line {summary.checkpoint}, before line {first}, the first invalid "
        "one: fix the file and run the same command again (rows already published are sent again "
        "with the same event_ids, which the worker drops as repeats)"
    )
    n = len(summary.invalid)
    err.print(
        f"[bold red]{n} {'row was' if n == 1 else 'rows were'} not published[/]: {'it is' if n == 1 else 'they are'} "
        f"in {path} with {'its line number and error' if n == 1 else 'their line numbers and errors'}; "
        f"{where}",
        highlight=False,
    )


BULK = dict(linger_ms=20, batch_size=512 * 1024)


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
    with broker_for(s, embedded) as s, Publisher(s.bootstrap, _topics(s), **s.kafka_config()) as pub:
        app = ingest.create_app(pub, tokens, max_body=max_body)
        err.print(f"ingest on http://{host}:{port}/v1/events (API docs at /docs, OpenAPI at /openapi.json)")
        uvicorn.run(app, host=host, port=port, log_level=s.log_level)


rules_cli = typer.Typer(help="Rules files.", no_args_is_help=True)
cli.add_typer(rules_cli, name="rules")


@rules_cli.command("check")
def rules_check(file: Path = typer.Argument(..., help="Rules YAML")) -> None:
    """Validate a rules file; exit 2 naming file, line, rule and field on error."""
    from streams import rules as rules_mod

    with _rules_errors():
        ruleset = rules_mod.load(file)
    for r in ruleset.rules:
        out.print(f"ok  {r.name:<24} {r.kind:<11} {r.severity}", highlight=False)


alerts_cli = typer.Typer(help="Alert delivery configuration.", no_args_is_help=True)
cli.add_typer(alerts_cli, name="alerts")


@alerts_cli.command("check-config")
def alerts_check_config(file: Path = typer.Argument(..., help="Alerts config YAML")) -> None:
    """Validate an alerts config (routes, receivers, inhibit rules); exit 2 naming file, line and field."""
    cfg = _delivery(settings(), file).config  # secrets it names must be set, as for the worker
    for r in cfg.receivers:
        kinds = [k.removesuffix("_configs") for k, v in r if isinstance(v, list) and v]
        out.print(f"ok  receiver {r.name:<20} {', '.join(kinds)}", highlight=False)
    out.print(f"ok  {len(cfg.inhibit_rules)} inhibit rules", highlight=False)


@alerts_cli.command("test")
def alerts_test(receiver: str = typer.Option(..., help="Receiver name in APPWATCH_ALERTS_CONFIG")) -> None:
    """Send a test notification through one receiver's every integration; exit 1 if any fails."""
    s = settings()
    if not s.alerts_config:
        err.print("[red]APPWATCH_ALERTS_CONFIG is not set[/]")
        raise typer.Exit(2)
    d = _delivery(s)
    if receiver not in d.receivers:
        err.print(f"[red]no receiver {receiver!r}[/] (known: {', '.join(d.receivers)})")
        raise typer.Exit(2)
    outcomes = asyncio.run(d.send_test(receiver))
    for name, outcome in outcomes.items():
        out.print(f"{outcome:<8} {name}", highlight=False)
    raise typer.Exit(0 if all(o == "sent" for o in outcomes.values()) else 1)


@alerts_cli.command("list")
def alerts_list(
    fired_within: str = typer.Option(
        "24h",
        "--fired-within",
        help="Alerts appwatch fired this recently (when written to the alerts "
        "topic, not the event's time): 30m, 24h, 7d ...",
    ),
    rule: str | None = typer.Option(None, help="Only this rule"),
    as_json: bool = typer.Option(False, "--json", help="One alert JSON per line"),
) -> None:
    """The alert history, read from the alerts topic."""
    from pydantic import TypeAdapter
    from rich.table import Table

    from appwatch import history
    from core.yamlfile import Duration

    s = settings()
    if not s.broker:
        err.print("[red]APPWATCH_BROKER is not set[/]: the history lives in the broker's alerts topic")
        raise typer.Exit(2)
    try:
        window = TypeAdapter(Duration).validate_python(fired_within)
    except ValidationError:
        err.print(f"[red]--fired-within {escape(repr(fired_within))}[/]: expected a duration such as 30m, 24h or 7d")
        raise typer.Exit(2) from None
    alerts = history.alerts_fired(s, window, rule)
    if as_json:
        for a in alerts:
            sys.stdout.buffer.write(a.to_json() + b"\n")
        return
    table = Table(title=f"alerts fired in the last {fired_within}: {len(alerts)}")
    for col in ("event time", "rule", "severity", "status", "summary"):
        table.add_column(col)
    for a in alerts:
        table.add_row(a.event_ts[:16], a.rule, a.severity, a.status, a.summary)
    out.print(table)


silence_cli = typer.Typer(help="Silences: mute matching alerts for a while.", no_args_is_help=True)
cli.add_typer(silence_cli, name="silence")


@silence_cli.command("add")
def silence_add(
    matcher: list[str] = typer.Option(..., "--matcher", "-m", help="e.g. -m 'app_id=\"kimi\"'"),
    duration: str = typer.Option("2h", help="How long: 30m, 2h, 1d ..."),
    author: str = typer.Option(os.environ.get("USER", "appwatch"), help="Who"),
    comment: str = typer.Option(..., help="Why"),
) -> None:
    """Mute alerts whose labels match every matcher, from now for DURATION."""
    from pydantic import TypeAdapter

    from alerts.silence import Silence, dump_matchers
    from appwatch import history
    from core.matchers import Matcher
    from core.yamlfile import Duration

    s = settings()
    need_broker(s, what=" (silences live in the broker's silences topic)")
    try:
        seconds = TypeAdapter(Duration).validate_python(duration)
        matchers = [Matcher.model_validate(m) for m in matcher]  # each -m is one matcher, as in amtool
        sil = Silence(matchers=matchers, ends_at=time.time() + seconds, created_by=author, comment=comment)
    except ValidationError as exc:
        err.print(f"[red]bad silence[/]: {escape(exc.errors(include_url=False)[0]['msg'])}")
        raise typer.Exit(2) from None
    history.publish_silence(s, sil)
    out.print(
        f"{sil.id}  {dump_matchers(sil)}  until {time.strftime('%Y-%m-%d %H:%M:%S %Z', time.localtime(sil.ends_at))}"
    )


@silence_cli.command("list")
def silence_list(all_: bool = typer.Option(False, "--all", help="Expired ones too")) -> None:
    """The silences in force (or all of them)."""
    from rich.table import Table

    from alerts.silence import dump_matchers
    from appwatch import history

    s = settings()
    need_broker(s, what=" (silences live in the broker's silences topic)")
    now = time.time()
    table = Table()
    for col in ("id", "matchers", "ends", "by", "comment", "state"):
        table.add_column(col)
    for sil in sorted(history.silences(s).values(), key=lambda x: x.ends_at):
        if all_ or sil.ends_at > now:
            table.add_row(
                sil.id,
                dump_matchers(sil),
                time.strftime("%Y-%m-%d %H:%M", time.localtime(sil.ends_at)),
                sil.created_by,
                sil.comment,
                "active" if sil.active(now) else "expired",
            )
    out.print(table)


@silence_cli.command("expire")
def silence_expire(silence_id: str = typer.Argument(..., help="The silence id")) -> None:
    """End a silence now."""
    from appwatch import history

    s = settings()
    need_broker(s, what=" (silences live in the broker's silences topic)")
    sil = history.silences(s).get(silence_id)
    if sil is None:
        err.print(f"[red]no silence {escape(silence_id)}[/]")
        raise typer.Exit(1)
    history.publish_silence(s, sil.model_copy(update={"ends_at": min(sil.ends_at, time.time())}))
    out.print(f"expired {silence_id}")


connectors_cli = typer.Typer(help="Connector configuration.", no_args_is_help=True)
cli.add_typer(connectors_cli, name="connectors")


def _connectors_file(path: Path | None) -> Path:
    if path:
        return path
    if Path("connectors.yaml").exists():
        return Path("connectors.yaml")
    from importlib import resources

    return Path(str(resources.files("connectors").joinpath("example.yaml")))


def _load_connectors(path: Path, names: list[str]):
    from connectors import config as cconfig

    try:
        instances = cconfig.load(path)
    except ConfigError as exc:
        err.print(f"[bold red]invalid connectors config[/]\n{escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    unknown = sorted(set(names) - {i.name for i in instances})
    if unknown:
        err.print(f"[red]no connector named {', '.join(unknown)} in {path}[/]")
        raise typer.Exit(2)
    return [i for i in instances if not names or i.name in names]


@connectors_cli.command("check")
def connectors_check(file: Path = typer.Argument(..., help="Connectors YAML")) -> None:
    """Validate a connectors file; exit 2 naming file, line and field on error."""
    instances = _load_connectors(file, [])
    for i in instances:
        out.print(f"ok  {i.name:<24} {i.kind:<20} every {i.interval:g}s")


@cli.command()
def connect(
    names: list[str] | None = typer.Argument(None, help="Instances to run (default: all)"),
    config: Path | None = typer.Option(
        None, help="Connectors YAML (default: ./connectors.yaml, else the shipped example)"
    ),
    once: bool = typer.Option(False, "--once", help="Poll each instance once and exit"),
    state_dir: Path = typer.Option(Path(".appwatch/connectors"), help="Checkpoints"),
    metrics_port: int | None = typer.Option(None, help="Serve /metrics, /healthz and /readyz on this port"),
    embedded: bool = EMBEDDED,
) -> None:
    """Run connectors: fetch sources, publish contract events to Kafka.

    Exit codes: 0 every instance fetched in full (or skipped: not configured), 1 one failed
    or was only partly fetched, 2 bad configuration, 130 interrupted (Ctrl-C).
    """
    import tempfile

    from prometheus_client import CollectorRegistry

    from connectors import ops
    from connectors import runner as crunner
    from connectors.publish import Publisher

    s = settings()
    need_broker(s, embedded)
    path = _connectors_file(config)
    instances = _load_connectors(path, names or [])
    registry = CollectorRegistry()
    publisher: list = []  # set once the broker is up: /readyz answers ready when it is reachable
    if metrics_port:
        ops.serve(s.web_host, metrics_port, registry, lambda: bool(publisher) and publisher[0].connected())
    err.print(f"connectors from {path}: {', '.join(i.name for i in instances)}")

    async def main(pub, state: Path) -> tuple[list, bool]:
        stop = _stop_event()
        results = await crunner.run(instances, pub, once=once, state_dir=state, registry=registry, stop=stop)
        return results, stop.is_set()

    with tempfile.TemporaryDirectory(prefix="appwatch-connect-") as scratch:
        state = Path(scratch) if embedded and not s.broker else state_dir  # throwaway broker: no checkpoint
        with broker_for(s, embedded) as s, Publisher(s.bootstrap, _topics(s), **s.kafka_config()) as pub:
            publisher.append(pub)
            results, stopped = asyncio.run(main(pub, state))
    for r in results:
        colour = {"ok": "green", "skipped": "dim", "partial": "yellow"}.get(r.outcome, "red")
        out.print(
            f"[{colour}]{r.outcome:<8}[/] {r.name:<24} {r.published} published, {r.duplicates} repeats", highlight=False
        )
        for e in r.errors:
            out.print(f"         {e}", markup=False, highlight=False)
    if stopped and once:
        err.print(
            "interrupted: the instances still polling were given up; what they had not published "
            "is fetched again next time (their checkpoints did not move)"
        )
        raise typer.Exit(130)
    partial = [r.name for r in results if r.outcome == "partial"]
    if partial:
        err.print(
            f"[yellow]only partly fetched: {', '.join(partial)}[/] (the errors above); what was fetched is "
            "published and checkpointed, the rest is tried again next time",
            highlight=False,
        )
    raise typer.Exit(0 if all(r.ok for r in results) else 1)


@cli.command()
def backtest(
    events: Path = typer.Option(..., exists=True, dir_okay=False, help="JSONL of events"),
    rules: Path | None = typer.Option(None, help="Rules YAML (default: the shipped pack)"),
    report: Path | None = typer.Option(None, dir_okay=False, help="Also write a self-contained HTML report here"),
) -> None:
    """Run the detectors over a file with no Kafka; print one alert JSON per line."""
    from streams import backtest as bt
    from streams import rules as rules_mod

    started = time.monotonic()
    with _rules_errors():
        ruleset = rules_mod.load(rules)
    with events.open("rb") as f:
        result = bt.run(f, ruleset, _companies())
    for n, msg in result.errors:
        err.print(f"{events}:{n}: {msg}", highlight=False, markup=False)
    for alert in result.alerts:
        sys.stdout.buffer.write(alert.to_json() + b"\n")
    sys.stdout.flush()
    if report is not None:
        from streams import report as report_mod

        report.write_text(
            report_mod.render(result, ruleset, title=f"appwatch backtest: {events.name}"), encoding="utf-8"
        )
        err.print(f"report written to {report}", highlight=False)
    err.print(
        f"{len(result.events)} events, {result.duplicates} repeated, {len(result.errors)} invalid, "
        f"{len(result.alerts)} alerts "
        f"({len(ruleset.rules)} rules) in {time.monotonic() - started:.2f}s"
    )
    raise typer.Exit(1 if result.errors else 0)


def _delivery(s: Settings, path: Path | None = None):
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


def _companies() -> dict[str, str]:
    from connectors import catalog

    return catalog.shipped().companies()


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
        err.print(f"[bold red]invalid rules[/]\n{escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None


def main() -> None:
    cli()
