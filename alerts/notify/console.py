"""Print each alert as one readable line (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from core.alert import Alert
from alerts.notify import Result

COLOURS = {"critical": "bold red", "warning": "bold yellow", "info": "bold cyan"}


def line(alert: Alert) -> str:
    colour = COLOURS.get(alert.severity, "bold")
    labels = " ".join(f"{k}={escape(v)}" for k, v in alert.labels.items())
    day = (alert.window_start or alert.event_ts)[:10]
    late = " [dim](late)[/]" if alert.late else ""
    return (f"[{colour}]ALERT {alert.severity}[/] [bold]{escape(alert.rule)}[/] {day}{late} "
            f"{escape(alert.summary)} [dim]{labels} id={alert.alert_id[:12]}[/]")


class ConsoleNotifier:
    def __init__(self, console: Console | None = None, name: str = "console") -> None:
        self.name = name
        self.console = console or Console()

    async def notify(self, alert: Alert) -> Result:
        self.console.print(line(alert), soft_wrap=True, highlight=False)
        return False, None
