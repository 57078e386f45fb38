"""Pipeline and market metrics, on an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams.events import AppMetric, Event


class StreamMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter(
            "appwatch_events_total", "Valid events consumed", ["type", "source"], registry=registry)
        self.invalid = Counter(
            "appwatch_events_invalid_total", "Invalid events sent to the DLQ", ["reason"],
            registry=registry)
        self.alerts = Counter(
            "appwatch_alerts_total", "Alerts fired", ["rule", "severity"], registry=registry)
        self.too_late = Counter(
            "appwatch_events_too_late_total", "Events older than the window keeps",
            registry=registry)
        self.event_to_alert = Histogram(
            "appwatch_event_to_alert_seconds",
            "From the triggering event entering Kafka to its alert being produced",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.downloads = Gauge(
            "appwatch_app_downloads", "Latest daily downloads of an app",
            ["app_id", "country", "platform"], registry=registry)
        self._days: dict[tuple[str, str, str], str] = {}

    def observe(self, ev: Event) -> None:
        self.events.labels(ev.type, ev.source).inc()
        if isinstance(ev, AppMetric) and ev.metric == "downloads" and ev.period == "day":
            self._downloads(ev)

    def _downloads(self, ev: AppMetric) -> None:
        series = (ev.app_id, ev.country, ev.platform)
        day, last = ev.ts.date().isoformat(), self._days.get(series, "")
        if day < last:
            return  # an older day: the gauge shows the latest one
        gauge = self.downloads.labels(*series)
        if ev.mode == "delta" and day == last:
            gauge.inc(ev.value)
        else:
            gauge.set(ev.value)
        self._days[series] = day
