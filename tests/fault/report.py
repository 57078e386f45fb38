"""The fault report: one row per (test, fault, receiver), appended to a JSON lines file.

A fault test drives known events, computes the alerts it expects with the detector code
(``streams.backtest`` / ``streams.engine``), and compares them with what a receiver got.
``Ledger`` does the comparison, ``record`` / ``recorder`` (or the ``fault_report`` fixture)
writes the row:

    ledger = Ledger(expected_webhook_ids)
    for hit in receiver.hits:
        ledger.saw(hit.webhook_id, accepted=200 <= hit.status < 300, key=alert_key(hit.payload))
    rec = recorder(request)            # or the ``fault_report`` fixture
    ...
    rec("dead receiver", events_in=41, ledger=ledger, receiver="flaky")

Columns:

* ``alerts_expected``: alerts the engine computes for the events published;
* ``delivered``: expected alerts the receiver accepted (answered 2xx) at least once,
  i.e. what a receiver that dedups by ``webhook-id`` processed;
* ``missing``: expected alerts never accepted;
* ``duplicated``: alerts that reached the receiver under more than one distinct
  ``webhook-id`` (same rule, labels, window and status), plus ids accepted more than once
  *after* receiver-side dedup (0 by construction, kept so the column means what it says);
* ``unexpected``: accepted ids the engine did not expect (an alert that should not exist);
* ``raw_repeats``: requests the receiver got beyond the first for each id, whatever it
  answered (retries after a refused connection are invisible to it): the duplicate traffic
  a receiver must dedup, as information.

The file is ``$APPWATCH_FAULT_REPORT`` (default ``/tmp/appwatch-test-logs/faults.jsonl``);
``python -m tests.fault.report`` prints the latest row of each (test, fault, receiver)
(``--all``: every row, ``--tests``: name the test of each row, ``--file PATH``: another file);
rows with a missing, duplicated or unexpected alert are red.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

DEFAULT_PATH = "/tmp/appwatch-test-logs/faults.jsonl"
COLUMNS = ("fault", "events_in", "alerts_expected", "delivered", "missing", "duplicated")


def report_path() -> Path:
    return Path(os.environ.get("APPWATCH_FAULT_REPORT", DEFAULT_PATH))


def alert_key(data: dict) -> tuple:
    """What makes two notifications the same alert, whatever their ids: rule, series
    labels, window and status."""
    return (
        data.get("rule"),
        tuple(sorted((data.get("labels") or {}).items())),
        data.get("window_start"),
        data.get("status"),
    )


@dataclass
class Ledger:
    """Expected ``webhook-id``s against what one receiver saw, request by request."""

    expected: set[str]
    requests: Counter = field(default_factory=Counter)  # webhook-id -> requests received
    accepted: Counter = field(default_factory=Counter)  # webhook-id -> requests answered 2xx
    ids_by_key: dict = field(default_factory=lambda: defaultdict(set))  # alert_key -> ids

    def __post_init__(self) -> None:
        self.expected = set(self.expected)

    def saw(self, webhook_id: str, *, accepted: bool, key: Hashable | None = None) -> None:
        self.requests[webhook_id] += 1
        if accepted:
            self.accepted[webhook_id] += 1
        if key is not None:
            self.ids_by_key[key].add(webhook_id)

    def saw_all(self, hits: Iterable) -> Ledger:
        """From ``tests.fault.harness.Hit``-like records (``webhook_id``, ``status``, ``data``)."""
        for h in hits:
            self.saw(
                h.webhook_id, accepted=200 <= h.status < 300, key=alert_key(h.data) if h.data is not None else None
            )
        return self

    @property
    def delivered_ids(self) -> set[str]:
        """Accepted at least once: what a receiver that dedups by webhook-id processed."""
        return {i for i, n in self.accepted.items() if n}

    @property
    def delivered(self) -> int:
        return len(self.delivered_ids & self.expected)

    @property
    def missing_ids(self) -> set[str]:
        return self.expected - self.delivered_ids

    @property
    def unexpected_ids(self) -> set[str]:
        return self.delivered_ids - self.expected

    @property
    def duplicated(self) -> int:
        several_ids = sum(1 for ids in self.ids_by_key.values() if len(ids) > 1)
        after_dedup = 0  # receiver-side dedup keeps one acceptance per id: 0 by construction
        return several_ids + after_dedup

    @property
    def raw_repeats(self) -> int:
        return sum(n - 1 for n in self.requests.values() if n > 1)

    def row(self) -> dict:
        return dict(
            alerts_expected=len(self.expected),
            delivered=self.delivered,
            missing=len(self.missing_ids),
            duplicated=self.duplicated,
            unexpected=len(self.unexpected_ids),
            raw_repeats=self.raw_repeats,
            requests=sum(self.requests.values()),
        )


@dataclass
class Row:
    fault: str
    events_in: int
    alerts_expected: int
    delivered: int
    missing: int
    duplicated: int
    raw_repeats: int = 0
    unexpected: int = 0
    requests: int = 0
    receiver: str = ""
    test: str = ""
    seconds: float | None = None  # the test's duration so far, when recorded
    at: float = field(default_factory=time.time)


def record(
    fault: str,
    *,
    events_in: int,
    ledger: Ledger | None = None,
    receiver: str = "",
    test: str = "",
    seconds: float | None = None,
    path: Path | None = None,
    **counts,
) -> Row:
    """Append one row. Give a ``ledger``, or the counts (``alerts_expected``, ``delivered``,
    ``missing``, ``duplicated``, optionally ``raw_repeats``, ``unexpected``) directly."""
    values = {**(ledger.row() if ledger is not None else {}), **counts}
    row = Row(
        fault=fault,
        events_in=events_in,
        receiver=receiver,
        test=test,
        seconds=None if seconds is None else round(seconds, 1),
        **values,
    )
    path = path or report_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:  # one short write per row: appends do not interleave
        f.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")
    return row


def recorder(request) -> Callable[..., Row]:
    """``rec = recorder(request)`` at the start of a test (``request``: pytest's fixture),
    then ``rec(fault, events_in=..., ledger=..., receiver=...)`` records a row named after
    the test, with its duration so far."""
    started = time.monotonic()

    def rec(fault: str, **kw) -> Row:
        return record(fault, test=request.node.name, seconds=time.monotonic() - started, **kw)

    return rec


@pytest.fixture
def fault_report(request):
    """The same as a fixture: ``from tests.fault.report import fault_report`` in a test module."""
    return recorder(request)


def read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # a torn line from an interrupted run
    return rows


def latest(rows: list[dict]) -> list[dict]:
    """The last row of each (test, fault, receiver), in order of first appearance."""
    out: dict[tuple, dict] = {}
    for r in rows:
        out[(r.get("test"), r.get("fault"), r.get("receiver"))] = r
    return list(out.values())


SHOWN = (
    ("fault", "left"),
    ("receiver", "left"),
    ("events_in", "right"),
    ("alerts_expected", "right"),
    ("delivered", "right"),
    ("missing", "right"),
    ("duplicated", "right"),
    ("raw_repeats", "right"),
    ("unexpected", "right"),
    ("seconds", "right"),
)


def table(rows: list[dict], *, with_test: bool = False):
    from rich.table import Table

    t = Table(title="appwatch fault report")
    shown = [*SHOWN, ("test", "left")] if with_test else list(SHOWN)
    for name, justify in shown:
        t.add_column(name, justify=justify, overflow="fold")
    for r in rows:
        bad = r.get("missing") or r.get("duplicated") or r.get("unexpected")
        t.add_row(*[("" if r.get(c) is None else str(r.get(c))) for c, _ in shown], style="red" if bad else None)
    return t


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    parser = argparse.ArgumentParser(prog="python -m tests.fault.report", description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=None, help=f"default $APPWATCH_FAULT_REPORT or {DEFAULT_PATH}")
    parser.add_argument("--all", action="store_true", help="every row, not only the latest per test and fault")
    parser.add_argument("--tests", action="store_true", help="a column with the test that recorded each row")
    args = parser.parse_args(argv)
    path = args.file or report_path()
    rows = read(path)
    console = Console(width=None if sys.stdout.isatty() else 180)
    if not rows:
        console.print(f"no fault rows in {path}")
        return 1
    console.print(table(rows if args.all else latest(rows), with_test=args.tests))
    console.print(f"{path}: {len(rows)} rows", style="dim")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
