"""Rules, alert delivery and silences: check, test, list, add, expire."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

import typer
from pydantic import ValidationError
from rich.markup import escape

from appwatch.cli.common import (
    cli,
    delivery_for,
    err,
    need_broker,
    out,
    rules_errors,
    settings,
)

rules_cli = typer.Typer(help="Rules files.", no_args_is_help=True)


cli.add_typer(rules_cli, name="rules")


@rules_cli.command("check")
def rules_check(file: Path = typer.Argument(..., help="Rules YAML")) -> None:
    """Validate a rules file; exit 2 naming file, line, rule and field on error."""
    from streams import rules as rules_mod

    with rules_errors():
        ruleset = rules_mod.load(file)
    for r in ruleset.rules:
        out.print(f"ok  {r.name:<24} {r.kind:<11} {r.severity}", highlight=False)


alerts_cli = typer.Typer(help="Alert delivery configuration.", no_args_is_help=True)


cli.add_typer(alerts_cli, name="alerts")


@alerts_cli.command("check-config")
def alerts_check_config(file: Path = typer.Argument(..., help="Alerts config YAML")) -> None:
    """Validate an alerts config (routes, receivers, inhibit rules); exit 2 naming file, line and field."""
    cfg = delivery_for(settings(), file).config  # secrets it names must be set, as for the worker
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
    d = delivery_for(s)
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
