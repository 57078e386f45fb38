"""apple_charts once, through the real Publisher, into the embedded broker."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from kafka import KafkaConsumer
from prometheus_client import CollectorRegistry

from connectors import config
from connectors.publish import Publisher
from connectors.runner import Runner

pytestmark = pytest.mark.integration


def test_apple_charts_once_into_kafka(broker, topics, api, data, tmp_path):
    for country, apps in (("cn", data.CN_TOP_FREE), ("us", data.US_TOP_FREE)):
        api.expect_request(f"/api/v2/{country}/apps/top-free/25/apps.json").respond_with_json(
            data.apple_feed(country, "top-free", apps)
        )
    instances = config.parse(f"""
connectors:
  - name: apple
    kind: apple_charts
    params: {{base_url: "{api.url_for("/api/v2")}", countries: [cn, us], charts: [top-free], limit: 25}}
""")
    registry = CollectorRegistry()

    async def once():
        async with Runner(instances, pub, state_dir=tmp_path, registry=registry) as runner:
            return await runner.run_once()

    with Publisher(broker, topics) as pub:
        [res] = asyncio.run(once())
    assert (res.outcome, res.published) == ("ok", 11)

    consumer = KafkaConsumer(
        topics.ranks, bootstrap_servers=broker, auto_offset_reset="earliest", consumer_timeout_ms=15_000
    )
    got = {}
    try:
        for msg in consumer:  # ends after 15 s without a message; normally ends at 11
            ev = orjson.loads(msg.value)
            got[(msg.key.decode(), ev["chart"])] = ev
            if len(got) == 11:
                break
    finally:
        consumer.close()
    assert len(got) == 11, f"only {len(got)} of 11 ranks arrived: {sorted(got)}"
    ranks = {key: ev["rank"] for (key, _), ev in got.items()}
    assert ranks["doubao|cn"] == 1 and ranks["yuanbao|cn"] == 2 and ranks["kimi|cn"] == 4
    assert ranks["chatgpt|us"] == 1 and ranks["ios-1142110895|cn"] == 5
    assert got[("doubao|cn", "top-free")]["app_name"] == "豆包 - 字节跳动旗下 AI 智能助手"
    assert {ev["source"] for ev in got.values()} == {"apple_charts"}
    assert registry.get_sample_value("appwatch_connector_events_total", {"connector": "apple"}) == 11
