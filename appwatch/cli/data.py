"""The commands that move data: publish, import, connect, connectors check, backtest."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import typer
from rich.markup import escape
from rich.progress import Progress

from appwatch.cli.common import (
    EMBEDDED,
    broker_for,
    cli,
    companies,
    err,
    need_broker,
    out,
    rules_errors,
    settings,
    stop_event,
    topics_of,
)
from core.yamlfile import ConfigError


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
    with Publisher(s.bootstrap, topics_of(s), **s.kafka_config()) as pub, Progress(console=err) as progress:
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
                with Publisher(s.bootstrap, topics_of(s), **BULK, **s.kafka_config()) as pub:
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
        stop = stop_event()
        results = await crunner.run(instances, pub, once=once, state_dir=state, registry=registry, stop=stop)
        return results, stop.is_set()

    with tempfile.TemporaryDirectory(prefix="appwatch-connect-") as scratch:
        state = Path(scratch) if embedded and not s.broker else state_dir  # throwaway broker: no checkpoint
        with broker_for(s, embedded) as s, Publisher(s.bootstrap, topics_of(s), **s.kafka_config()) as pub:
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
    with rules_errors():
        ruleset = rules_mod.load(rules)
    with events.open("rb") as f:
        result = bt.run(f, ruleset, companies())
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
