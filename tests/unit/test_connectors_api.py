"""The connectors' status on the worker (appwatch/worker/connectors_api.py), without a
broker or a web server: records applied and skipped, the health rule, the token check."""

from __future__ import annotations

import logging

import orjson
import pytest

from appwatch.worker.connectors_api import STALE_AFTER, ConnectorStatus, health
from core.auth import Tokens

READ = "read-token-0123456789abcdef"
WRITE = "write-token-0123456789abcdef"
NOW = 1_731_600_000.0


def record(name: str, outcome: str = "ok", **kw) -> dict:
    return {
        "name": name,
        "kind": "apple_charts",
        "outcome": outcome,
        "last_fetch": NOW - 60,
        "last_ok": NOW - 60 if outcome == "ok" else None,
        "last_error": None if outcome == "ok" else "http: 503 from the source",
        "published": 100,
        "duplicates": 0,
        "next_run": NOW + 540,
        "host": "conn-1",
        "pid": 4242,
        **kw,
    }


def status(*records: dict) -> ConnectorStatus:
    s = ConnectorStatus(Tokens(read=(READ,), write=(WRITE,)), clock=lambda: NOW)
    for offset, r in enumerate(records):
        s.apply(r["name"].encode(), orjson.dumps(r), offset)
    return s


@pytest.mark.parametrize(
    ("outcome", "next_run", "want"),
    [
        ("ok", NOW + 540, "ok"),
        ("skipped", NOW + 540, "ok"),
        ("ok", None, "ok"),  # --once: no next run, never stale
        ("error", NOW + 540, "failing"),
        ("partial", NOW + 540, "failing"),
        ("interrupted", None, "failing"),
        ("ok", NOW - 60, "ok"),  # a little late: still within its grace
        ("ok", NOW - STALE_AFTER, "ok"),
        ("ok", NOW - STALE_AFTER - 1, "stale"),  # missed its run
        ("error", NOW - 3600, "stale"),
    ],
)
def test_health(outcome, next_run, want):
    assert health(record("a", outcome, next_run=next_run), NOW) == want


def test_the_last_record_of_a_name_wins_and_the_list_is_sorted_by_name():
    s = status(
        record("play-doubao", "error"),
        record("apple-cn"),
        record("play-doubao", "ok", published=7),
        record("hn", "partial", next_run=NOW - 3600),
    )
    got = s.get(f"Bearer {READ}")
    assert got.status == 200
    assert [(r["name"], r["outcome"], r["health"]) for r in got.body] == [
        ("apple-cn", "ok", "ok"),
        ("hn", "partial", "stale"),
        ("play-doubao", "ok", "ok"),
    ]
    assert got.body[2] == {**record("play-doubao", "ok", published=7), "health": "ok"}


@pytest.mark.parametrize(
    "value",
    [
        b"not json",
        b"[1, 2]",
        orjson.dumps({"kind": "apple_charts", "outcome": "ok"}),  # no name
        orjson.dumps({"name": "", "outcome": "ok"}),
        orjson.dumps({"name": 5, "outcome": "ok"}),
        orjson.dumps(record("apple-cn", "exploded")),  # no such outcome
    ],
)
def test_a_bad_record_is_logged_and_skipped(value, caplog):
    s = status(record("apple-cn"))
    with caplog.at_level(logging.WARNING, "appwatch.worker.connectors_api"):
        s.apply(b"apple-cn", value, 7)
    assert [r["outcome"] for r in s.listing()] == ["ok"]  # the good one stays
    assert "bad connector status record at offset 7" in caplog.text


def test_a_tombstone_forgets_the_instance():
    s = status(record("apple-cn"), record("hn"))
    s.apply(b"hn", None, 2)
    assert [r["name"] for r in s.listing()] == ["apple-cn"]


def test_a_read_token_is_needed():
    s = status(record("apple-cn"))
    for authorization in (None, "Bearer nope", f"Basic {READ}"):
        answer = s.get(authorization)
        assert answer.status == 401, authorization
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "apple-cn" not in orjson.dumps(answer.body).decode()
    assert s.get(f"Bearer {WRITE}").status == 200  # a write token reads too
    ingest_only = ConnectorStatus(Tokens(ingest=("ingest-token-0123456789",)))
    assert ingest_only.get("Bearer ingest-token-0123456789").status == 403
