"""The worker's /readyz and the pipeline and market metrics, on the embedded broker."""

import httpx
import pytest

from connectors.publish import Publisher
from core.events import validate
from tests.conftest import wait_until
from tests.integration.test_pipeline import downloads

pytestmark = pytest.mark.integration


def test_readyz_and_market_metrics(broker, topics, start_worker):
    w = start_worker(topics)
    r = httpx.get(f"{w.url}/readyz", timeout=5)
    assert r.status_code == 200 and r.json() == {"ready": True, "reasons": []}
    assert w.metric("appwatch_worker_ready") == 1
    assert w.metric("appwatch_rebalances_total") >= 1 and w.metric("appwatch_table_recovery_seconds") > 0
    base = dict(source="test", ts="2024-11-14T00:00:00+08:00", app_id="doubao", platform="ios", country="cn")
    with Publisher(broker, topics) as pub:
        pub.send_all(
            [
                downloads("doubao", 14, 900_000),
                validate(dict(base, event_id="r1", type="app.rank", chart="top-free", rank=3)),
                validate(dict(base, event_id="u1", type="app.metric", metric="dau", value=5e7, period="day")),
                validate(
                    dict(
                        event_id="n1",
                        type="news",
                        source="test",
                        ts="2024-11-14T08:00:00+08:00",
                        url="https://example.com/a",
                        title="ByteDance hires Alibaba Tongyi lead",
                        companies=["ByteDance", "Alibaba"],
                        kind="hire",
                    )
                ),
            ]
        )
        pub.flush()
    wait_until(lambda: w.metric("appwatch_news_total", company="ByteDance", kind="hire") == 1, 30, "the news counter")
    assert w.metric("appwatch_news_total", company="Alibaba", kind="hire") == 1
    assert w.metric("appwatch_app_rank", app_id="doubao", chart="top-free", country="cn", platform="ios") == 3
    assert w.metric("appwatch_app_users", app_id="doubao", metric="dau") == 5e7
    assert w.metric("appwatch_app_downloads", app_id="doubao") == 900_000
    assert w.metric("appwatch_rule_evaluations_total", rule="download-spike") >= 1
    text = httpx.get(f"{w.url}/metrics", timeout=5).text
    assert f'appwatch_consumer_lag{{partition="0",topic="{topics.prefix}events.metrics"}}' in text
    lag = [line for line in text.splitlines() if line.startswith("appwatch_consumer_lag{")]
    assert lag and not any("changelog" in line for line in lag)  # only our own topics
