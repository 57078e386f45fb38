"""docs/contract.md is the index of the public interface: it links the page of each part and
holds no facts of its own (tests/unit/test_docs.py checks those pages); and the repo stands
on its own (it cites no document outside it and names no package registry's host)."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "contract.md").read_text()


def test_the_index_links_each_part_of_the_interface():
    links = set(re.findall(r"\]\(([^)#\s]+)", DOC))
    assert {"events.md", "alerts.md", "topics.md", "config/README.md"} <= links
    for link in links:
        assert (ROOT / "docs" / link).is_file(), link


def test_the_index_repeats_no_example():
    """One place per fact: the examples live on the pages the index links."""
    assert "```" not in DOC


def test_the_repo_cites_nothing_outside_it_and_names_no_registry_host():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    outside = re.compile("shared" + r"/design|design\.md")
    # the names are built here so that this file does not hold them itself
    hosts = re.compile(
        "|".join(
            re.escape(a + b)
            for a, b in (("pypi", ".org"), ("python", "hosted"), ("registry.", "npmjs"), ("deb.", "debian.org"))
        ),
        re.I,
    )
    found = []
    for name in files:
        path = ROOT / name
        if not path.is_file() or path.suffix in {".png", ".whl", ".gz"}:
            continue
        text = path.read_text(errors="replace")
        found += [f"{name}: {m.group(0)}" for rx in (outside, hosts) for m in rx.finditer(text)]
    assert found == []
