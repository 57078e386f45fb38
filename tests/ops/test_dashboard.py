"""The Grafana dashboard: generated = committed, its structure, and every panel query
returning data from a real Prometheus scraping a running demo and connectors."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys

import pytest
import yaml

from tests.conftest import LOGS
from tests.ops.conftest import DASHBOARD, GENERATOR, ROOT, substitute, tool

ROWS = ["Pipeline", "Alerts", "Connectors", "Market"]
BOARD = json.loads(DASHBOARD.read_text(encoding="utf-8"))
PANELS = [p for p in BOARD["panels"] if p["type"] != "row"]
TARGETS = [(p, t) for p in PANELS for t in p["targets"]]


def _id(pt) -> str:
    panel, target = pt
    slug = re.sub(r"[^a-z0-9]+", "-", panel["title"].lower()).strip("-")
    return f"{panel['id']:02d}{target['refId']}-{slug}"


def _grafanalib() -> None:
    try:
        import grafanalib  # noqa: F401
    except ImportError:
        if os.environ.get("CI") == "true":
            pytest.fail("grafanalib not installed (pip install grafanalib)")
        pytest.skip("grafanalib not installed")


# --- generated and committed -------------------------------------------------------------


def test_generator_output_equals_committed_json(tmp_path):
    _grafanalib()
    outs = []
    for n in (1, 2):  # twice: the output is deterministic
        out = tmp_path / f"run{n}.json"
        proc = subprocess.run(
            [sys.executable, str(GENERATOR), "--output", str(out)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(out.read_text(encoding="utf-8"))
    assert outs[0] == outs[1]
    assert outs[0] == DASHBOARD.read_text(encoding="utf-8"), (
        "deploy/grafana/dashboards/appwatch.json is stale: run python deploy/grafana/dashboard.py"
    )


def test_readme_lists_every_panel_query():
    _grafanalib()
    proc = subprocess.run([sys.executable, str(GENERATOR), "--markdown"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    readme = (ROOT / "deploy" / "grafana" / "README.md").read_text(encoding="utf-8")
    assert proc.stdout.strip() in readme, "deploy/grafana/README.md: paste the --markdown table"


# --- structure ---------------------------------------------------------------------------


def test_rows_in_order_and_panels_under_them():
    rows = [p for p in BOARD["panels"] if p["type"] == "row"]
    assert [r["title"] for r in rows] == ROWS
    current, under = None, {r: [] for r in ROWS}
    for p in BOARD["panels"]:
        if p["type"] == "row":
            current = p["title"]
        else:
            under[current].append(p["title"])
    for row, wanted in {
        "Pipeline": [
            "Event throughput by type",
            "Consumer lag by partition",
            "DLQ: invalid events by reason",
            "Event → alert latency",
            "Rebalances",
            "Workers ready",
        ],
        "Alerts": [
            "Alerts fired by rule",
            "Notifications by receiver and outcome",
            "Silenced, deduplicated, inhibited",
            "Delivery latency p95 by receiver",
            "Receivers disabled",
        ],
        "Connectors": [
            "Polls by outcome",
            "Connector errors by reason",
            "Seconds since last successful poll",
            "Events published",
        ],
        "Market": ["Daily downloads by app", "Chart rank (1 = top)", "Users by app", "News by company and kind"],
    }.items():
        assert set(wanted) <= set(under[row]), (row, under[row])


def test_variables():
    variables = {v["name"]: v for v in BOARD["templating"]["list"]}
    assert set(variables) == {"datasource", "app"}
    ds = variables["datasource"]
    assert (ds["type"], ds["query"]) == ("datasource", "prometheus")
    app = variables["app"]
    assert app["type"] == "query"
    assert app["query"] == "label_values(appwatch_app_downloads, app_id)"
    assert app["multi"] is True and app["includeAll"] is True and app["allValue"] == ".*"
    assert app["datasource"]["uid"] == "${datasource}"


def test_every_panel_queries_prometheus_through_the_datasource_variable():
    assert len(PANELS) >= 20
    for p in PANELS:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"], f"{p['title']}: no target"
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"])
        for t in p["targets"]:
            assert t["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
            assert re.search(r"appwatch[_-]", t["expr"]), t["expr"]


def test_ranges_use_rate_interval_and_app_is_a_regex():
    for p, t in TARGETS:
        ranges = re.findall(r"\[([^\]]*)\]", t["expr"])
        assert all(r == "$__rate_interval" for r in ranges), (p["title"], t["expr"])
        if "$app" in t["expr"]:
            assert 'app_id=~"$app"' in t["expr"], t["expr"]
    market = [p for p in PANELS if p["title"] in ("Daily downloads by app", "Chart rank (1 = top)", "Users by app")]
    assert all('app_id=~"$app"' in p["targets"][0]["expr"] for p in market)


def test_latency_quantiles_and_reversed_rank_axis():
    latency = next(p for p in PANELS if p["title"] == "Event → alert latency")
    exprs = [t["expr"] for t in latency["targets"]]
    for q in ("0.5", "0.95", "0.99"):
        assert any(
            e.startswith(f"histogram_quantile({q},") and "appwatch_event_to_alert_seconds_bucket" in e for e in exprs
        ), exprs
    rank = next(p for p in PANELS if p["title"] == "Chart rank (1 = top)")
    assert rank["fieldConfig"]["defaults"]["custom"]["transform"] == "negative-Y"


def test_layout_ids_and_grid():
    ids = [p["id"] for p in BOARD["panels"]]
    assert ids == list(range(1, len(ids) + 1))
    cells = set()
    for p in BOARD["panels"]:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
    assert BOARD["uid"] == "appwatch-overview"


def test_every_query_is_valid_promql(tmp_path):
    """promtool parses each query (as a recording rule) without a server."""
    promtool = tool("promtool")
    rules = [{"record": f"panel:{i}", "expr": substitute(t["expr"])} for i, (_, t) in enumerate(TARGETS)]
    path = tmp_path / "panels.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_provisioning():
    prov = ROOT / "deploy" / "grafana" / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert [(d["type"], d["url"]) for d in ds] == [("prometheus", "http://prometheus:9090")]
    providers = yaml.safe_load((prov / "dashboards" / "appwatch.yml").read_text())["providers"]
    assert [(p["type"], p["options"]["path"]) for p in providers] == [("file", "/var/lib/grafana/dashboards")]


# --- against a real Prometheus -----------------------------------------------------------

RESULTS: dict[str, dict] = {}


@pytest.mark.integration
@pytest.mark.parametrize("pt", TARGETS, ids=[_id(pt) for pt in TARGETS])
def test_panel_query_returns_data(stack, pt):
    panel, target = pt
    expr = substitute(target["expr"])
    result = stack.query(expr)
    values = {json.dumps(r["metric"], sort_keys=True): r["value"][1] for r in result}
    RESULTS[_id(pt)] = {"panel": panel["title"], "expr": expr, "series": values}
    (LOGS / "ops-panels.json").write_text(json.dumps(RESULTS, indent=1, ensure_ascii=False))
    assert result, f"{panel['title']} [{target['refId']}]: no data for {expr}"
    assert any(math.isfinite(float(v)) for v in values.values()), (
        f"{panel['title']} [{target['refId']}]: only NaN for {expr}: {values}"
    )


@pytest.mark.integration
def test_app_variable_values_and_a_selection(stack):
    apps = stack.api("/api/v1/label/app_id/values", **{"match[]": "appwatch_app_downloads"})
    assert {"doubao", "kimi", "chatgpt"} <= set(apps), apps
    downloads = next(t for p, t in TARGETS if p["title"] == "Daily downloads by app")
    # Grafana sends a multi-value selection as a regex alternation
    result = stack.query(substitute(downloads["expr"], app="(doubao|kimi)"))
    assert {r["metric"]["app_id"] for r in result} == {"doubao", "kimi"}


@pytest.mark.integration
def test_market_values_match_the_worker(stack):
    """What the panels show is what the worker exports: Doubao's latest downloads."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(stack.demo_metrics, timeout=5).text
    exported = {
        tuple(sorted(s.labels.items())): s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "appwatch_app_downloads" and s.labels.get("app_id") == "doubao"
    }
    assert exported
    shown = {
        tuple(sorted((k, v) for k, v in r["metric"].items() if k not in ("__name__", "job", "instance"))): float(
            r["value"][1]
        )
        for r in stack.query('appwatch_app_downloads{app_id=~"doubao"}')
    }
    assert shown == exported
