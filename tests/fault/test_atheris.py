"""The atheris harness (tests/fault/fuzz_decode.py), bounded: a few thousand runs in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

atheris = pytest.importorskip("atheris")

HARNESS = Path(__file__).with_name("fuzz_decode.py")
RUNS = 20_000


def test_the_harness_runs_clean(tmp_path):
    r = subprocess.run(
        [sys.executable, str(HARNESS), f"-atheris_runs={RUNS}", "-max_total_time=60", f"-artifact_prefix={tmp_path}/"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
    )
    err = r.stderr.decode(errors="replace")
    assert r.returncode == 0, err[-3000:]
    assert f"Done {RUNS} " in err, err[-500:]  # every run done, not stopped by max_total_time
    assert not list(tmp_path.glob("crash-*")) and not list(tmp_path.glob("timeout-*"))


def test_the_harness_oracle_bites(monkeypatch):
    """The known-hostile inputs pass the oracle, and the oracle fails on a non-InvalidEvent error."""
    from tests.fault import fuzz_decode
    from tests.fault.strategies import SNIPPETS

    for raw in [*SNIPPETS, *fuzz_decode.RAW_TEMPLATES]:
        fuzz_decode.check(raw)
    for data in (b"", b"\x00{}", b"\x01\x00\x05\x07xx", b"\x02\x01\x03[[[]]]", b"\x02\x00\x00-1"):
        fuzz_decode.TestOneInput(data)

    monkeypatch.setattr(fuzz_decode, "decode", lambda raw: (_ for _ in ()).throw(TypeError("boom")))
    with pytest.raises(TypeError):
        fuzz_decode.check(b"{}")
