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
