"""The benchmark harness in smoke mode, in a subprocess: the result has the expected
shape and its files are written. Timings are not asserted (the machine is shared)."""

from __future__ import annotations

import importlib.util
import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    pytest.importorskip("psutil", reason="bench extra not installed: pip install -e '.[bench]'")
    pytest.importorskip("matplotlib", reason="bench extra not installed: pip install -e '.[bench]'")
    out = tmp_path_factory.mktemp("bench-smoke")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        stdout, _ = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # the harness stops its broker and workers
        try:
            stdout, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, _ = proc.communicate()
        pytest.fail(f"the smoke harness ran over 240 s:\n{stdout.decode(errors='replace')[-3000:]}")
    text = stdout.decode(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    return out, json.loads((out / "bench.json").read_text()), text


def test_files_are_written(result):
    out, res, _ = result
    for name in ("bench.json", "bench.md", "bench.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "bench.md").read_text()
    assert "| # | figure | measured | baseline (same run) | ratio | goal | met |" in md
    assert set(res["files"]) == {"json", "markdown", "png"}


def test_shape_and_numbers(result):
    _, res, _ = result
    assert res["mode"] == "smoke"
    assert positive(res["duration_s"])
    wl = res["workload"]
    assert wl["events"] >= 1000 and wl["series"] > 0 and wl["expected_alerts"] > 0
    assert positive(res["baseline"]["json_per_s"]) and positive(res["baseline"]["orjson_per_s"])

    p = res["pipeline"]
    for k in ("events_per_s", "cpu_us_per_event", "rss_end_mb", "ratio_to_baseline", "elapsed_s"):
        assert positive(p[k]), k
    assert isinstance(p["complete"], bool) and p["committed_events"] > 0
    assert p["curve"] and all(len(pt) == 2 for pt in p["curve"])

    if importlib.util.find_spec("quixstreams"):
        q = res["quix"]
        for k in ("events_per_s", "cpu_us_per_event"):
            assert positive(q[k]), k
        assert positive(res["head_to_head"]["ratio"])
    else:
        assert "quix" in res["errors"]

    lat = res["latency"]
    assert lat["alerts_expected"] > 0 and lat["alerts_received"] > 0
    for k in ("p50_ms", "p95_ms", "p99_ms", "rate_per_s", "achieved_rate_per_s"):
        assert positive(lat[k]), k
    assert lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"]

    mem = res["memory"]
    assert positive(mem["rss_mb"]) and positive(mem["retained_days"])
    assert mem["state_equals"] is True and mem["state_equals_last_days"] >= mem["retained_days"]

    imp, http = res["ingest"]["import"], res["ingest"]["http"]
    for k in ("raw_producer_per_s", "import_1_worker_per_s", "import_2_workers_per_s"):
        assert positive(imp[k]), k
    assert positive(http["http_per_s"]) and http["accepted"] == http["events"]

    points = res["growth"]["points"]
    assert {pt["workers"] for pt in points} == {1, 2}
    assert len({pt["series"] for pt in points if pt["workers"] == 1}) >= 2
    for pt in points:
        assert positive(pt["events_per_s"]) and positive(pt["cpu_us_per_event"]) and positive(pt["rss_end_mb"])

    figures = {g["figure"][:1] for g in res["goals"]}
    assert figures == {"2", "3", "4", "5", "6", "7"}
    assert all(set(g) == {"figure", "value", "unit", "goal", "met"} for g in res["goals"])
    allowed = set() if importlib.util.find_spec("quixstreams") else {"quix"}
    assert set(res["errors"]) <= allowed, res["errors"]
