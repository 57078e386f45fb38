"""The `appwatch` command line. Each command parses its options, calls one function of the
stages or of appwatch/, and prints what came of it.

    common.py    consoles, settings, the broker, signals, start-up checks
    service.py   worker, demo, serve, broker, receive
    data.py      publish, import, connect, connectors check, backtest
    alerts.py    rules check; alerts check-config, test, list; silence add, list, expire
"""

# isort: off
# importing a module registers its commands, in this order in --help
from appwatch.cli import service  # noqa: F401
from appwatch.cli import data  # noqa: F401
from appwatch.cli import alerts  # noqa: F401

# isort: on
from appwatch.cli.common import cli
from appwatch.cli.data import BULK

__all__ = ["BULK", "cli", "main"]


def main() -> None:
    cli()
