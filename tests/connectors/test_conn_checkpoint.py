"""Checkpoint files: round trip, bounded ids, atomic writes, corrupt files."""

from __future__ import annotations

import json

import pytest

from connectors import checkpoint as cp_mod
from connectors.checkpoint import Checkpoint


def test_round_trip_and_bound(tmp_path):
    cp = Checkpoint(tmp_path / "a.json", seen_limit=3)
    cp.http["http://x/a.json"] = {"etag": '"1"'}
    cp.data["cursor"] = "豆包"
    cp.remember(["e1", "e2", "e3", "e4"])
    cp.remember(["e2"])  # seen again: now the newest
    cp.save()
    back = Checkpoint.load(tmp_path / "a.json", seen_limit=3)
    assert (back.http, back.data) == (cp.http, {"cursor": "豆包"})
    assert [i for i in ("e1", "e2", "e3", "e4") if back.seen(i)] == ["e2", "e3", "e4"]
    assert json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))["seen"] == ["e3", "e4", "e2"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "a.json"
    cp = Checkpoint(path)
    cp.remember(["old"])
    cp.save()
    before = path.read_bytes()

    def broken(*a, **k):
        raise OSError("disk full")

    cp.remember(["new"])
    monkeypatch.setattr(cp_mod.json, "dump", broken)
    with pytest.raises(OSError, match="disk full"):
        cp.save()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]  # the temp file is gone


def test_missing_and_corrupt_files(tmp_path, caplog):
    assert not Checkpoint.load(tmp_path / "none.json").seen("x")
    bad = tmp_path / "bad.json"
    bad.write_text('{"seen": ["a"', encoding="utf-8")
    cp = Checkpoint.load(bad)
    assert not cp.seen("a") and not bad.exists()
    assert (tmp_path / "bad.corrupt").read_text() == '{"seen": ["a"'
    assert "bad.json is unreadable" in caplog.text
