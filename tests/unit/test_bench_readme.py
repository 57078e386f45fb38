"""The README's Performance table is the committed bench.json, not figures typed by hand."""

import json
from pathlib import Path

from bench import report

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_performance_table_is_generated_from_the_committed_bench_json():
    res = json.loads((ROOT / "bench" / "results" / "bench.json").read_text())
    assert res["mode"] == "full" and not res["errors"], "the committed bench.json is a full, clean run"
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(report.README_BEGIN, 1)[1].split(report.README_END, 1)[0]
    assert section == "\n" + report.readme(res), "run: python -m bench.report --readme"


def detect_calendar_figures(r: dict) -> str:
    """The README's sentence of ``python -m bench.detect_calendar``'s figures."""
    return (
        f"{r['stage_ratio']:.3f} of the old rule's throughput (median of {r['runs']} runs, "
        f"{r['stage_ratios'][0]:.3f}-{r['stage_ratios'][-1]:.3f}), {r['with_control_ratio']:.3f} with the control "
        f"agent's market fold added ({r['control']['us_per_app_day']} µs per app and day); both fire the workload's "
        f"{r['alerts']['expected']} spikes; load {r['loadavg'][0]} on {r['cpus']} CPUs."
    )


def test_the_readme_calendar_cost_is_the_committed_detect_calendar_json():
    r = json.loads((ROOT / "bench" / "results" / "detect_calendar.json").read_text())
    assert r["alerts"]["old"] == r["alerts"]["shipped"] == r["alerts"]["expected"] > 0
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert detect_calendar_figures(r) in text
