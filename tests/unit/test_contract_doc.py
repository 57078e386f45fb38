"""docs/contract.md: every example validates against the models, and the repo stands on its
own (it cites no document outside it and names no package registry's host)."""

import re
import subprocess
from pathlib import Path

import orjson
import pytest

from core.alert import Alert
from core.events import validate

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "contract.md").read_text()
EXAMPLES = [orjson.loads(b) for b in re.findall(r"```json\n(.*?)\n```", DOC, re.S)]


def test_the_page_has_an_example_of_each_shape():
    kinds = [e.get("type") for e in EXAMPLES]
    assert kinds == ["app.metric", "app.rank", "news", None, "alert.firing"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.get("type") or "alert")
def test_each_example_is_valid(example):
    if example.get("type") in ("app.metric", "app.rank", "news"):
        assert validate(example).event_id == example["event_id"]
    elif example.get("type", "").startswith("alert."):
        assert Alert.model_validate(example["data"]).status == example["type"].split(".")[1]
    else:
        assert Alert.model_validate(example).alert_id == example["alert_id"]


def test_the_repo_cites_nothing_outside_it_and_names_no_registry_host():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    outside = re.compile("shared" + r"/design|design\.md")
    # the names are built here so that this file does not hold them itself
    hosts = re.compile("|".join(re.escape(a + b) for a, b in (("pypi", ".org"), ("python", "hosted"),
                                                                ("registry.", "npmjs"), ("deb.", "debian.org"))), re.I)
    found = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.suffix in {".png", ".whl", ".gz"}:
            continue
        text = path.read_text(errors="replace")
        found += [f"{name}: {m.group(0)}" for rx in (outside, hosts) for m in rx.finditer(text)]
    assert found == []
