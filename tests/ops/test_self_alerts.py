"""The self-alert rules: promtool check and unit tests, their conventions, and a real
Prometheus loading and evaluating them against the running demo and connectors."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.conftest import wait_until
from tests.ops.conftest import RULE_TESTS, RULES, tool

SEVERITIES = {"critical", "warning"}
JOBS = {"appwatch-worker", "appwatch-connectors", "appwatch-ingest"}


def _alerts() -> dict[str, dict]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return {r["alert"]: r for g in doc["groups"] for r in g["rules"] if "alert" in r}


def test_promtool_check_rules():
    proc = subprocess.run([tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in proc.stdout + proc.stderr


def test_promtool_unit_tests_pass():
    proc = subprocess.run(
        [tool("promtool"), "test", "rules", RULE_TESTS.name],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=RULE_TESTS.parent,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout + proc.stderr


def test_promtool_unit_tests_catch_a_broken_rule(tmp_path):
    """The unit tests are not vacuous: a rule that fires too early fails them."""
    (tmp_path / "rules").mkdir()
    (tmp_path / "tests").mkdir()
    broken = RULES.read_text(encoding="utf-8").replace(
        'expr: up{job="appwatch-worker"} == 0\n        for: 1m', 'expr: up{job="appwatch-worker"} == 0\n        for: 0m'
    )
    assert broken != RULES.read_text(encoding="utf-8")
    (tmp_path / "rules" / RULES.name).write_text(broken)
    (tmp_path / "tests" / RULE_TESTS.name).write_text(RULE_TESTS.read_text(encoding="utf-8"))
    proc = subprocess.run(
        [tool("promtool"), "test", "rules", RULE_TESTS.name],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path / "tests",
    )
    assert proc.returncode != 0 and "AppwatchWorkerDown" in proc.stdout + proc.stderr


def test_every_alert_has_severity_annotations_and_known_jobs():
    alerts = _alerts()
    for name in (
        "AppwatchWorkerDown",
        "AppwatchWorkerNotReady",
        "AppwatchConsumerLagGrowing",
        "AppwatchDLQRateHigh",
        "AppwatchNotificationsFailing",
        "AppwatchReceiverDisabled",
        "AppwatchConnectorStale",
    ):
        assert name in alerts
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in SEVERITIES, name
        assert {"summary", "description", "runbook"} <= set(rule["annotations"]), name
        for job in re.findall(r'job=~?"([^"]+)"', rule["expr"]):
            assert set(job.split("|")) <= JOBS, (name, job)
    assert "for" in alerts["AppwatchWorkerDown"] and alerts["AppwatchWorkerDown"]["for"] == "1m"


def test_every_alert_has_a_firing_and_a_silent_unit_test():
    tests = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    assert tests["rule_files"] == [f"../rules/{RULES.name}"]
    fires, silent = set(), set()
    for t in tests["tests"]:
        for case in t["alert_rule_test"]:
            (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    assert fires == set(_alerts()), set(_alerts()) ^ fires
    assert silent == set(_alerts()), set(_alerts()) ^ silent


# --- a real Prometheus -------------------------------------------------------------------


@pytest.mark.integration
def test_prometheus_loads_and_evaluates_the_rules(stack):
    def evaluated():
        groups = stack.api("/api/v1/rules")["groups"]
        rules = [r for g in groups for r in g["rules"]]
        return (
            groups
            if rules and all(r["health"] == "ok" and not r["lastEvaluation"].startswith("0001") for r in rules)
            else None
        )

    groups = wait_until(evaluated, 30, "every rule evaluated without error", interval=0.5)
    loaded = {r["name"] for g in groups for r in g["rules"]}
    assert loaded == set(_alerts())
    assert {g["file"] for g in groups} == {str(RULES)}
    for g in groups:
        for r in g["rules"]:
            assert r["health"] == "ok" and not r.get("lastError"), r


@pytest.mark.integration
def test_rules_fire_on_the_real_metrics(stack):
    """The demo's webhook answers 410 after two deliveries: the receiver is disabled and
    AppwatchReceiverDisabled fires; the broken feed's connector fails every poll, so
    AppwatchConnectorFailing is pending (its `for` is 15m); the healthy ones are quiet."""

    def alerts():
        return stack.api("/api/v1/alerts")["alerts"]

    def disabled_firing():
        return [
            a for a in alerts() if a["labels"]["alertname"] == "AppwatchReceiverDisabled" and a["state"] == "firing"
        ]

    firing = wait_until(disabled_firing, 30, "AppwatchReceiverDisabled firing", interval=0.5)
    assert {a["labels"]["receiver"] for a in firing} == {"everything/webhook/0"}
    assert firing[0]["labels"]["severity"] == "critical"
    assert "everything/webhook/0" in firing[0]["annotations"]["summary"]

    def connector_pending():
        return [a for a in alerts() if a["labels"]["alertname"] == "AppwatchConnectorFailing"]

    failing = wait_until(connector_pending, 30, "AppwatchConnectorFailing pending", interval=0.5)
    assert {(a["labels"]["connector"], a["state"]) for a in failing} == {("feeds-broken", "pending")}
    names = {a["labels"]["alertname"] for a in alerts()}
    assert not names & {
        "AppwatchWorkerDown",
        "AppwatchWorkerAbsent",
        "AppwatchConnectorStale",
        "AppwatchConnectorsDown",
    }, names
    assert stack.webhook_requests[:2] == [204, 204] and 410 in stack.webhook_requests
