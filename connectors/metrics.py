"""Connector metrics, on an injected registry (never the global one in tests)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class ConnectorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.polls = Counter(
            "appwatch_connector_polls_total",
            "Polls by connector instance and outcome (ok, partial, error)",
            ["connector", "outcome"],
            registry=registry,
        )
        self.events = Counter(
            "appwatch_connector_events_total", "Events published (repeats dropped)", ["connector"], registry=registry
        )
        self.duplicates = Counter(
            "appwatch_connector_duplicates_total",
            "Events dropped as already published",
            ["connector"],
            registry=registry,
        )
        self.last_success = Gauge(
            "appwatch_connector_last_success_timestamp_seconds",
            "Unix time of the last poll that did not fail outright (ok or partial)",
            ["connector"],
            registry=registry,
        )
        self.errors = Counter(
            "appwatch_connector_errors_total",
            "Errors by connector instance and reason",
            ["connector", "reason"],
            registry=registry,
        )
