#!/usr/bin/env python3
"""Generate the appwatch Grafana dashboard with grafanalib.

    python deploy/grafana/dashboard.py                 # writes deploy/grafana/dashboards/appwatch.json
    python deploy/grafana/dashboard.py --output X.json # somewhere else (the tests compare the two)
    python deploy/grafana/dashboard.py --markdown      # the panel list with its PromQL, for the README

The output is deterministic: sorted keys, panel ids numbered in layout order, fixed uid.
Every panel and target queries the `${datasource}` variable (a Prometheus data source);
`$app` (multi, All = `.*`) filters the market panels. Rates use Grafana's `$__rate_interval`.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grafanalib._gen import DashboardEncoder
from grafanalib.core import (
    Dashboard,
    GridPos,
    RowPanel,
    Stat,
    Target,
    Template,
    Templating,
    Time,
    TimeSeries,
)

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "dashboards" / "appwatch.json"

UID = "appwatch-overview"
TITLE = "appwatch"
DS = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"
APP = 'app_id=~"$app"'
SCHEMA_VERSION = 39  # Grafana 10.x: no migrations run on load
WIDTH = 24

GREEN, ORANGE, RED = "green", "orange", "red"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Spec:
    """One panel: what it shows and how; laid out by ``build``."""

    title: str
    queries: tuple[Query, ...]
    description: str
    kind: str = "timeseries"  # timeseries | bars | stat
    unit: str = "short"
    width: int = 8
    height: int = 8
    thresholds: tuple[tuple[str, float | None], ...] = ()
    mappings: tuple[dict, ...] = ()
    overrides: tuple[dict, ...] = ()
    custom: dict = field(default_factory=dict)


def q(expr: str, legend: str = "", instant: bool = False) -> Query:
    return Query(" ".join(expr.split()), legend, instant)


def outcome_colours(*pairs: tuple[str, str]) -> tuple[dict, ...]:
    """Overrides colouring the series whose name matches a regex (e.g. the failed outcomes)."""
    return tuple(
        {
            "matcher": {"id": "byRegexp", "options": regex},
            "properties": [{"id": "color", "value": {"fixedColor": colour, "mode": "fixed"}}],
        }
        for regex, colour in pairs
    )


DISABLED = (
    {
        "type": "value",
        "options": {
            "0": {"color": GREEN, "index": 0, "text": "enabled"},
            "1": {"color": RED, "index": 1, "text": "disabled (410)"},
        },
    },
)

ROWS: tuple[tuple[str, tuple[Spec, ...]], ...] = (
    (
        "Pipeline",
        (
            Spec(
                "Event throughput by type",
                (q(f"sum by (type) (rate(appwatch_events_total[{RATE}]))", "{{type}}"),),
                "Valid events consumed per second, by event type (app.metric, app.rank, news).",
                unit="eps",
                width=6,
            ),
            Spec(
                "Consumer lag by partition",
                (q("max by (topic, partition) (appwatch_consumer_lag)", "{{topic}} [{{partition}}]"),),
                "Messages behind the end of each assigned partition. Growing lag means the workers "
                "cannot keep up: add workers (same group) or look for a slow agent.",
                width=6,
                thresholds=((GREEN, None), (ORANGE, 1000)),
            ),
            Spec(
                "DLQ: invalid events by reason",
                (
                    q(f"sum by (reason) (rate(appwatch_events_invalid_total[{RATE}]))", "{{reason}}"),
                    q(f"sum(rate(appwatch_events_too_late_total[{RATE}]))", "too late (not alerted)"),
                ),
                "Events that failed validation and went to appwatch.dlq, per second by reason; and "
                "events older than the rules' allowed lateness (counted, not alerted on).",
                unit="eps",
                width=6,
            ),
            Spec(
                "Event → alert latency",
                tuple(
                    q(
                        f"histogram_quantile({p}, sum by (le) (rate(appwatch_event_to_alert_seconds_bucket[{RATE}])))",
                        f"p{int(p * 100)}",
                    )
                    for p in (0.5, 0.95, 0.99)
                ),
                "From the triggering event entering Kafka to its alert being produced "
                "(appwatch_event_to_alert_seconds).",
                unit="s",
                width=6,
            ),
            Spec(
                "Rule evaluations by rule",
                (q(f"sum by (rule) (rate(appwatch_rule_evaluations_total[{RATE}]))", "{{rule}}"),),
                "Rule evaluations per second: a rule at zero while events flow matches nothing.",
                unit="ops",
            ),
            Spec(
                "Rebalances",
                (q(f"sum by (instance) (increase(appwatch_rebalances_total[{RATE}]))", "{{instance}}"),),
                "Consumer-group rebalances. Frequent rebalances stall processing (each one pauses "
                "the partitions and may recover tables).",
                kind="bars",
            ),
            Spec(
                "Workers ready",
                (q("sum(appwatch_worker_ready)", "ready"), q('sum(up{job="appwatch-worker"})', "up (scraped)")),
                "Workers whose tables are recovered and that process events, against the workers "
                "Prometheus can scrape.",
                kind="stat",
                width=4,
                thresholds=((RED, None), (GREEN, 1)),
            ),
            Spec(
                "Table recovery time",
                (q("max by (instance) (appwatch_table_recovery_seconds)", "{{instance}}"),),
                "Seconds from the worker's start to ready (tables recovered from their changelogs).",
                kind="stat",
                unit="s",
                width=4,
                thresholds=((GREEN, None), (ORANGE, 60), (RED, 300)),
            ),
        ),
    ),
    (
        "Alerts",
        (
            Spec(
                "Alerts fired by rule",
                (q(f"sum by (rule, severity) (increase(appwatch_alerts_total[{RATE}]))", "{{rule}} ({{severity}})"),),
                "Alerts produced by the detectors, by rule and severity.",
                kind="bars",
            ),
            Spec(
                "Notifications by receiver and outcome",
                (
                    q(
                        f"sum by (receiver, outcome) (rate(appwatch_notifications_total[{RATE}]))",
                        "{{receiver}} {{outcome}}",
                    ),
                ),
                "Deliveries per second: sent, versus failed (permanent 4xx), gave_up (retries "
                "exhausted), gone (410: receiver disabled) and disabled (not attempted).",
                unit="ops",
                overrides=outcome_colours(
                    (r".* sent$", GREEN), (r".* (failed|gave_up|gone)$", RED), (r".* disabled$", ORANGE)
                ),
            ),
            Spec(
                "Silenced, deduplicated, inhibited",
                (
                    q(f"sum(rate(appwatch_alerts_silenced_total[{RATE}]))", "silenced"),
                    q(f"sum(rate(appwatch_alerts_deduplicated_total[{RATE}]))", "deduplicated"),
                    q(f"sum(rate(appwatch_alerts_inhibited_total[{RATE}]))", "inhibited"),
                ),
                "Alerts not sent: muted by a silence, already delivered (same alert_id and status), "
                "or suppressed by an inhibit rule.",
                unit="ops",
            ),
            Spec(
                "Delivery latency p95 by receiver",
                (
                    q(
                        f"histogram_quantile(0.95, sum by (receiver, le) "
                        f"(rate(appwatch_notification_seconds_bucket[{RATE}])))",
                        "{{receiver}}",
                    ),
                ),
                "95th percentile of the time to deliver one notification, retries included.",
                unit="s",
            ),
            Spec(
                "Delivery attempts and in flight",
                (
                    q(
                        f"sum by (receiver) (rate(appwatch_notification_attempts_total[{RATE}]))",
                        "{{receiver}} attempts/s",
                    ),
                    q("sum by (receiver) (appwatch_notifications_in_flight)", "{{receiver}} in flight"),
                ),
                "Attempts per second (retries included: attempts above notifications mean retries) "
                "and deliveries under way; a receiver stuck in flight is slow or down.",
            ),
            Spec(
                "Receivers disabled",
                (q("max by (receiver) (appwatch_receiver_disabled)", "{{receiver}}"),),
                "1 once a receiver answered 410 Gone: it gets nothing until the worker restarts.",
                kind="stat",
                width=4,
                mappings=DISABLED,
                thresholds=((GREEN, None), (RED, 1)),
            ),
            Spec(
                "Silences active",
                (q("sum(appwatch_silences_active)", "silences"),),
                "Silences in force (appwatch silence list).",
                kind="stat",
                width=4,
                thresholds=((GREEN, None), (ORANGE, 1)),
            ),
        ),
    ),
    (
        "Connectors",
        (
            Spec(
                "Polls by outcome",
                (
                    q(
                        f"sum by (connector, outcome) (increase(appwatch_connector_polls_total[{RATE}]))",
                        "{{connector}} {{outcome}}",
                    ),
                ),
                "Connector polls: ok, partial (some items failed) or error.",
                kind="bars",
                width=6,
                overrides=outcome_colours((r".* ok$", GREEN), (r".* partial$", ORANGE), (r".* error$", RED)),
            ),
            Spec(
                "Connector errors by reason",
                (
                    q(
                        f"sum by (connector, reason) (increase(appwatch_connector_errors_total[{RATE}]))",
                        "{{connector}} {{reason}}",
                    ),
                ),
                "Errors counted by the connectors (bad payloads, HTTP failures, publish failures).",
                kind="bars",
                width=6,
            ),
            Spec(
                "Seconds since last successful poll",
                (
                    q(
                        "time() - max by (connector) (appwatch_connector_last_success_timestamp_seconds)",
                        "{{connector}}",
                    ),
                ),
                "Time since each connector's last poll that did not fail outright. Compare with its "
                "interval; the AppwatchConnectorStale alert fires past 12h.",
                unit="s",
                width=6,
                thresholds=((GREEN, None), (ORANGE, 21600), (RED, 43200)),
            ),
            Spec(
                "Events published",
                (
                    q(f"sum by (connector) (rate(appwatch_connector_events_total[{RATE}]))", "{{connector}}"),
                    q(
                        f"sum by (connector) (rate(appwatch_connector_duplicates_total[{RATE}]))",
                        "{{connector}} repeats dropped",
                    ),
                ),
                "Events the connectors published to Kafka per second, and repeats they dropped "
                "(already published, by event_id).",
                unit="eps",
                width=6,
            ),
        ),
    ),
    (
        "Market",
        (
            Spec(
                "Daily downloads by app",
                (q(f"appwatch_app_downloads{{{APP}}}", "{{app_id}} {{country}}/{{platform}}"),),
                "The latest day's downloads per app, country and platform (filtered by $app).",
                width=12,
            ),
            Spec(
                "Chart rank (1 = top)",
                (
                    q(
                        f"min by (app_id, chart, country, platform) (appwatch_app_rank{{{APP}}})",
                        "{{app_id}} {{chart}} {{country}}/{{platform}}",
                    ),
                ),
                "Latest chart position; the axis is reversed so that rising in the chart goes up.",
                width=12,
                custom={"transform": "negative-Y", "lineInterpolation": "stepAfter"},
            ),
            Spec(
                "Users by app",
                (q(f"appwatch_app_users{{{APP}}}", "{{app_id}} {{metric}} {{country}}/{{platform}}"),),
                "Latest user count by metric: dau, mau or cumulative_users, as the source reports.",
                width=12,
            ),
            Spec(
                "News by company and kind",
                (q(f"sum by (company, kind) (increase(appwatch_news_total[{RATE}]))", "{{company}} {{kind}}"),),
                "Talent and organisation news (hire, departure, dispute, reorg, funding, launch, "
                "other) naming each company.",
                kind="bars",
                width=12,
            ),
        ),
    ),
)


def _thresholds(spec: Spec) -> list[dict]:
    steps = spec.thresholds or ((GREEN, None),)
    return [{"color": c, "value": v} for c, v in steps]


def _targets(spec: Spec) -> list[Target]:
    return [
        Target(
            expr=x.expr,
            legendFormat=x.legend,
            refId=chr(ord("A") + i),
            datasource=DS,
            instant=x.instant,
            intervalFactor=1,
        )
        for i, x in enumerate(spec.queries)
    ]


def _panel(spec: Spec, pid: int, pos: GridPos):
    common = dict(
        title=spec.title, description=spec.description, dataSource=DS, id=pid, gridPos=pos, targets=_targets(spec)
    )
    if spec.kind == "stat":
        return Stat(
            **common,
            format=spec.unit,
            reduceCalc="lastNotNull",
            graphMode="none",
            textMode="value_and_name",
            mappings=list(spec.mappings),
            thresholds=_thresholds(spec),
            noValue="no data",
            color={"mode": "thresholds"},
        )
    bars = spec.kind == "bars"
    # counts and rates start at 0; a transformed (reversed) axis keeps its own range
    custom = dict(spec.custom) if "transform" in spec.custom else {"axisSoftMin": 0, **spec.custom}
    return TimeSeries(
        **common,
        unit=spec.unit,
        drawStyle="bars" if bars else "line",
        fillOpacity=80 if bars else 10,
        stacking={"mode": "normal" if bars else "none", "group": "A"},
        showPoints="never",
        legendDisplayMode="table",
        legendPlacement="bottom",
        legendCalcs=["lastNotNull", "max"],
        tooltipMode="multi",
        tooltipSort="desc",
        thresholds=_thresholds(spec),
        overrides=list(spec.overrides),
        extraJson={"fieldConfig": {"defaults": {"custom": custom}}},
    )


def build() -> Dashboard:
    panels, y, pid = [], 0, 1
    for row_title, specs in ROWS:
        panels.append(RowPanel(title=row_title, id=pid, gridPos=GridPos(h=1, w=WIDTH, x=0, y=y)))
        pid, y = pid + 1, y + 1
        x, line_height = 0, 0
        for spec in specs:
            if x + spec.width > WIDTH:
                x, y, line_height = 0, y + line_height, 0
            panels.append(_panel(spec, pid, GridPos(h=spec.height, w=spec.width, x=x, y=y)))
            pid, x, line_height = pid + 1, x + spec.width, max(line_height, spec.height)
        y += line_height
    templating = Templating(
        list=[
            Template(
                name="datasource",
                label="Data source",
                type="datasource",
                query="prometheus",
                default="Prometheus",
                hide=0,
            ),
            Template(
                name="app",
                label="App",
                query="label_values(appwatch_app_downloads, app_id)",
                dataSource=DS,
                multi=True,
                includeAll=True,
                allValue=".*",
                default="$__all",
                refresh=2,
                hide=0,
            ),
        ]
    )
    return Dashboard(
        title=TITLE,
        uid=UID,
        description="appwatch: pipeline, alert delivery, connectors and "
        "the AI-app market it watches (generated by deploy/grafana/dashboard.py)",
        tags=["appwatch"],
        timezone="browser",
        refresh="30s",
        time=Time("now-6h", "now"),
        schemaVersion=SCHEMA_VERSION,
        graphTooltip=1,
        templating=templating,
        panels=panels,
        editable=True,
    )


def to_dict() -> dict:
    """The dashboard as plain JSON data, with what grafanalib 0.7 cannot express patched in."""
    data = json.loads(json.dumps(build().to_json_data(), cls=DashboardEncoder))
    for var in data["templating"]["list"]:
        if var["name"] == "app":  # a multi-value variable's current value is a list
            var["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
            var["definition"] = var["query"]
    del data["rows"]  # legacy (pre-5.0) layout; the panels carry their gridPos
    return data


def render() -> str:
    return json.dumps(to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def markdown() -> str:
    lines = ["| row | panel | PromQL |", "|---|---|---|"]
    for row_title, specs in ROWS:
        for spec in specs:
            for x in spec.queries:
                expr = x.expr.replace("|", "\\|")
                lines.append(f"| {row_title} | {spec.title} | `{expr}` |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the JSON")
    parser.add_argument(
        "--markdown", action="store_true", help="print the panel list (row, panel, PromQL) as a Markdown table"
    )
    args = parser.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown())
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(render(), encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
