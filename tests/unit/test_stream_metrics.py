"""Market gauges follow the catalog's apps only: bounded series, bounded cost per event."""

from prometheus_client import CollectorRegistry

from core.events import validate
from streams.metrics import StreamMetrics


def downloads(app_id, value):
    return validate(
        dict(
            event_id=f"{app_id}-1",
            type="app.metric",
            source="t",
            ts="2024-11-14T00:00:00+08:00",
            app_id=app_id,
            platform="all",
            country="cn",
            metric="downloads",
            value=value,
            period="day",
        )
    )


def test_market_gauges_follow_only_the_catalog_apps_but_every_event_is_counted():
    registry = CollectorRegistry()
    m = StreamMetrics(registry, market_apps=frozenset({"doubao"}))
    m.observe(downloads("doubao", 900_000))
    m.observe(downloads("some-clone", 5))
    get = registry.get_sample_value
    assert get("appwatch_app_downloads", {"app_id": "doubao", "country": "cn", "platform": "all"}) == 900_000
    assert get("appwatch_app_downloads", {"app_id": "some-clone", "country": "cn", "platform": "all"}) is None
    assert get("appwatch_events_total", {"type": "app.metric", "source": "t"}) == 2


def test_without_a_catalog_every_app_has_its_gauge():
    registry = CollectorRegistry()
    StreamMetrics(registry).observe(downloads("some-clone", 5))
    assert (
        registry.get_sample_value(
            "appwatch_app_downloads", {"app_id": "some-clone", "country": "cn", "platform": "all"}
        )
        == 5
    )
