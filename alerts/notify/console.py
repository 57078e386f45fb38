"""Print each alert as one readable line (rich)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from alerts.notify import BaseNotifier, Result
from core.alert import Alert

COLOURS = {"critical": "bold red", "warning": "bold yellow", "info": "bold cyan"}


def line(alert: Alert) -> str:
    colour = COLOURS.get(alert.severity, "bold")
    labels = " ".join(f"{k}={escape(v)}" for k, v in alert.labels.items())
    day = (alert.window_start or alert.event_ts)[:10]
    late = " [dim](late)[/]" if alert.late else ""
    return (
        f"[{colour}]ALERT {alert.severity}[/] [bold]{escape(alert.rule)}[/] {day}{late} "
        f"{escape(alert.summary)} [dim]{labels} id={alert.alert_id[:12]}[/]"
    )


class ConsoleNotifier(BaseNotifier):
    kind = "console"

    def __init__(self, console: Console | None = None, name: str = "console") -> None:
        self.name = name
        self.console = console or Console()

    async def notify(self, alerts: Sequence[Alert]) -> Result:
        for alert in alerts:
            self.console.print(line(alert), soft_wrap=True, highlight=False)
        return None
