"""Delivery metrics, on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class DeliveryMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.notifications = Counter(
            "appwatch_notifications_total",
            "Notifications by receiver, integration and outcome",
            ["receiver", "integration", "outcome"],
            registry=registry,
        )
        self.disabled = Gauge(
            "appwatch_receiver_disabled",
            "1 once a receiver answered 410 Gone (until restart)",
            ["receiver"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "appwatch_notifications_in_flight",
            "Deliveries under way, retries included",
            ["receiver"],
            registry=registry,
        )
        self.attempts = Counter(
            "appwatch_notification_attempts_total",
            "Delivery attempts, retries included",
            ["receiver"],
            registry=registry,
        )
        self.latency = Histogram(
            "appwatch_notification_seconds",
            "Time to deliver one notification, retries included",
            ["receiver"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        )
        self.silenced = Counter(
            "appwatch_alerts_silenced_total", "Alerts muted by a silence, not sent", registry=registry
        )
        self.silences = Gauge("appwatch_silences_active", "Silences in force on this worker", registry=registry)
        self.inhibited = Counter(
            "appwatch_alerts_inhibited_total", "Alerts muted by an inhibit rule", registry=registry
        )
        self.deduplicated = Counter(
            "appwatch_alerts_deduplicated_total", "Alerts already delivered, not sent again", registry=registry
        )
