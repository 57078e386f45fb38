"""Pipeline and market metrics, on an injected registry."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from core.events import Event, News

USER_METRICS = ("dau", "mau", "cumulative_users")


class StreamMetrics:
    def __init__(self, registry: CollectorRegistry, market_apps: frozenset[str] | None = None) -> None:
        """``market_apps``: the apps the market gauges (downloads, rank, users) follow, the
        catalog's; None follows every app. One gauge child per series is a Prometheus
        series each, and each costs time on every event and every scrape."""
        self.market_apps = market_apps
        self.events = Counter("appwatch_events_total", "Valid events consumed", ["type", "source"], registry=registry)
        self.invalid = Counter(
            "appwatch_events_invalid_total", "Invalid events sent to the DLQ", ["reason"], registry=registry
        )
        self.alerts = Counter("appwatch_alerts_total", "Alerts fired", ["rule", "severity"], registry=registry)
        self.too_late = Counter(
            "appwatch_events_too_late_total", "Events older than the window keeps", registry=registry
        )
        self.ahead = Counter(
            "appwatch_events_ahead_total",
            "Events refused: ts more than a day after they entered Kafka",
            registry=registry,
        )
        self.event_to_alert = Histogram(
            "appwatch_event_to_alert_seconds",
            "From the triggering event entering Kafka to its alert being produced",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.downloads = Gauge(
            "appwatch_app_downloads",
            "Latest daily downloads of an app",
            ["app_id", "country", "platform"],
            registry=registry,
        )
        self.rank = Gauge(
            "appwatch_app_rank",
            "Latest chart position of an app (1 is the top)",
            ["app_id", "chart", "country", "platform"],
            registry=registry,
        )
        self.users = Gauge(
            "appwatch_app_users",
            "Latest user count of an app (dau, mau or cumulative_users)",
            ["app_id", "country", "platform", "metric"],
            registry=registry,
        )
        self.news = Counter(
            "appwatch_news_total",
            "News events by company (after enrichment) and kind",
            ["company", "kind"],
            registry=registry,
        )
        self.rebalances = Counter(
            "appwatch_rebalances_total", "Consumer-group rebalances this worker took part in", registry=registry
        )
        self.recovery = Gauge(
            "appwatch_table_recovery_seconds",
            "How long the last rebalance took until tables were recovered and agents ran",
            registry=registry,
        )
        self.ready = Gauge("appwatch_worker_ready", "1 when /readyz answers ready", registry=registry)
        self.duplicates = Counter(
            "appwatch_events_duplicate_total",
            "Events already folded in (the same event_id again, or a replayed offset): changed nothing",
            registry=registry,
        )
        self.series = Gauge(
            "appwatch_state_series", "Series the detect stage holds state for (its partitions)", registry=registry
        )
        self.restore = Gauge(
            "appwatch_state_restore_seconds",
            "How long the detect stage's last restore from its changelog took",
            registry=registry,
        )
        self.restored = Counter(
            "appwatch_state_restored_total", "Series states read back from the changelog", registry=registry
        )
        self._days: dict[tuple[str, str, str], str] = {}

    def observe(self, ev: Event, market: bool = True) -> None:
        """One event: count it; unless ``market`` is false (a refused event), update the market gauges."""
        self.count({(ev.type, ev.source): 1})
        if market:
            self.market(ev)

    def count(self, counts: Mapping[tuple[str, str], int]) -> None:
        """(type, source) -> valid events, once per batch."""
        for (kind, source), n in counts.items():
            self.events.labels(kind, source).inc(n)

    def follows(self, ev: Event) -> bool:
        return self.market_apps is None or getattr(ev, "app_id", None) in self.market_apps

    def market(self, ev: Event) -> None:
        """The market gauges of the apps followed (``follows``)."""
        if not self.follows(ev):
            return
        if ev.type == "app.metric":
            if ev.metric == "downloads" and ev.period == "day":
                self._downloads(ev)
            elif ev.metric in USER_METRICS and ev.mode == "total":
                self.users.labels(ev.app_id, ev.country, ev.platform, ev.metric).set(ev.value)
        elif ev.type == "app.rank":
            self.rank.labels(ev.app_id, ev.chart, ev.country, ev.platform).set(ev.rank)

    def observe_news(self, ev: News) -> None:
        """Once per news event, enriched (companies and kind filled in)."""
        for company in ev.companies or ["unknown"]:
            self.news.labels(company, ev.kind or "other").inc()

    def _downloads(self, ev) -> None:
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


class WorkerCollector:
    """Read at scrape time: consumer lag per partition and rule evaluations."""

    def __init__(
        self, lag: Callable[[], Iterable[tuple[str, int, int]]], evaluations: Callable[[], dict[str, int]]
    ) -> None:
        self._lag, self._evaluations = lag, evaluations

    def collect(self):
        lag = GaugeMetricFamily(
            "appwatch_consumer_lag", "Messages behind the end of each assigned partition", labels=["topic", "partition"]
        )
        for topic, partition, behind in self._lag():
            lag.add_metric([topic, str(partition)], behind)
        yield lag
        evals = CounterMetricFamily("appwatch_rule_evaluations", "Events a rule was evaluated on", labels=["rule"])
        for rule, n in sorted(self._evaluations().items()):
            evals.add_metric([rule], n)
        yield evals
