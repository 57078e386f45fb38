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
    four, one = r["shapes"]["4"], r["shapes"]["1"]
    return (
        f"with 4 events a day per series the shipped rule keeps {four['stage_ratio']:.3f} of the old rule's "
        f"throughput ({four['with_control_ratio']:.3f} with the control agent's market fold), with 1 a day "
        f"{one['stage_ratio']:.3f} ({one['with_control_ratio']:.3f}); both fire the workload's "
        f"{four['alerts']['expected']} spikes; load {r['loadavg'][0]} on {r['cpus']} CPUs."
    )


def test_the_readme_calendar_cost_is_the_committed_detect_calendar_json():
    r = json.loads((ROOT / "bench" / "results" / "detect_calendar.json").read_text())
    for shape in r["shapes"].values():
        assert shape["alerts"]["old"] == shape["alerts"]["shipped"] == shape["alerts"]["expected"] > 0
    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert detect_calendar_figures(r) in text
