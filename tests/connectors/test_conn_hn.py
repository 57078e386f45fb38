"""``hn_search``: Hacker News stories from a fake Algolia HN API on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from core.events import News, event_id

pytestmark = pytest.mark.anyio

SEARCH = "/api/v1/search_by_date"
T0 = 1731484862  # 2024-11-13T08:01:02Z


def hit(
    oid: int,
    title: str,
    created: int,
    url: str | None = "",
    author: str = "pg",
    story_text: str | None = None,
    points: int = 12,
) -> dict:
    """One hit as search_by_date returns it (``url`` "" -> a made-up article URL)."""
    when = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    h = {
        "objectID": str(oid),
        "title": title,
        "author": author,
        "created_at": when,
        "created_at_i": created,
        "updated_at": when,
        "points": points,
        "num_comments": 3,
        "story_id": oid,
        "story_text": story_text,
        "children": [],
        "_tags": ["story", f"author_{author}", f"story_{oid}"],
        "_highlightResult": {"title": {"value": title, "matchLevel": "full"}},
    }
    if url is not None:
        h["url"] = url or f"https://example.com/{oid}"
    return h


def page(query: str, hits: list, n: int, nb_pages: int, per_page: int = 2) -> dict:
    return {
        "hits": hits,
        "nbHits": len(hits) * nb_pages,
        "page": n,
        "nbPages": nb_pages,
        "hitsPerPage": per_page,
        "exhaustiveNbHits": True,
        "query": query,
        "params": f"query={query}&tags=story",
        "processingTimeMS": 1,
    }


def q(query: str, last: int, n: int = 0, per_page: int = 2) -> dict:
    return {
        "query": query,
        "tags": "story",
        "numericFilters": f"created_at_i>{last}",
        "hitsPerPage": str(per_page),
        "page": str(n),
    }


def hn_yaml(api, *queries: str, name: str = "hn", max_pages: int = 5, per_page: int = 2) -> str:
    return f"""
connectors:
  - name: {name}
    kind: hn_search
    params:
      base_url: {api.url_for("/")}
      queries: {json.dumps(list(queries))}
      hits_per_page: {per_page}
      max_pages: {max_pages}
      lookback_hours: 336
"""


def sample(registry, name, **labels) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def start(data) -> int:
    return int(data.NOW) - 14 * 86400  # the first poll looks back 336h (2024-11-12 04:40Z)


PAGES = [  # newest first, as search_by_date sorts
    [
        hit(42135790, "ByteDance poaches Alibaba Tongyi Qwen lead", T0 + 500),
        hit(
            42135701,
            "Ask HN: Is ByteDance's Doubao really at 160M users?",
            T0 + 400,
            url=None,
            story_text="<p>Numbers from &quot;QuestMobile&quot;:<br>800k downloads/day&#x2F;</p>",
        ),
    ],
    [
        hit(42135650, "字节跳动挖角阿里通义千问技术负责人", T0 + 300, url="https://36kr.com/p/3012345678901"),
        hit(42135600, "ByteDance's Doubao tops China's App Store", T0 + 200),
    ],
    [
        hit(42135550, "ByteDance non-compete dispute with ex-Tongyi engineer", T0 + 100),
        hit(42135500, "Show HN: Tracking Chinese AI app rankings", T0),
    ],
]


async def test_pagination_across_three_pages(api, data, sink, registry, make_runner, tmp_path):
    for n, hits in enumerate(PAGES):
        api.expect_request(SEARCH, query_string=q("ByteDance", start(data), n)).respond_with_json(
            page("ByteDance", hits, n, 3)
        )
    async with make_runner(hn_yaml(api, "ByteDance"), sink) as r:
        [res] = await r.run_once()

    assert (res.outcome, res.published, len(api.log)) == ("ok", 6, 3)
    assert [req.args["page"] for req, _ in api.log] == ["0", "1", "2"]
    evs = sink.events
    assert all(isinstance(e, News) and e.source == "hn_search" for e in evs)
    first = evs[0]
    assert (first.title, first.url, first.lang) == (
        "ByteDance poaches Alibaba Tongyi Qwen lead",
        "https://example.com/42135790",
        "en",
    )
    assert first.ts == datetime.fromtimestamp(T0 + 500, UTC)
    assert first.event_id == event_id("hn_search", "42135790")
    ask = evs[1]  # no url: the HN item page; story_text as plain text
    assert ask.url == "https://news.ycombinator.com/item?id=42135701"
    assert ask.summary == 'Numbers from "QuestMobile": 800k downloads/day/'
    assert evs[2].lang == "zh" and evs[2].url == "https://36kr.com/p/3012345678901"
    cp = json.loads((tmp_path / "state" / "hn.json").read_text())
    assert cp["data"] == {"newest": {"ByteDance": T0 + 500}}
    assert sample(registry, "appwatch_connector_events_total", connector="hn") == 6


async def test_checkpoint_asks_only_for_newer_stories(api, data, sink, tmp_path, make_runner):
    api.expect_request(SEARCH, query_string=q("Kimi Moonshot", start(data))).respond_with_json(
        page(
            "Kimi Moonshot",
            [
                hit(42100002, "Kimi reaches 38M monthly users", T0 + 60),
                hit(42100001, "Moonshot AI raises $1B led by Alibaba", T0),
            ],
            0,
            1,
        )
    )
    newer = [hit(42200001, "Kimi Moonshot launches k1 reasoning model", T0 + 9000)]
    api.expect_request(SEARCH, query_string=q("Kimi Moonshot", T0 + 60)).respond_with_json(
        page("Kimi Moonshot", newer, 0, 1)
    )

    async with make_runner(hn_yaml(api, "Kimi Moonshot"), sink) as r:
        [first] = await r.run_once()
    assert first.published == 2
    sink.take()

    registry2 = CollectorRegistry()  # a restart: the checkpoint comes from disk
    async with make_runner(hn_yaml(api, "Kimi Moonshot"), sink, registry=registry2) as r2:
        [second] = await r2.run_once()
    assert api.log[1][0].args["numericFilters"] == f"created_at_i>{T0 + 60}"
    assert (second.published, second.duplicates) == (1, 0)
    assert [e.title for e in sink.events] == ["Kimi Moonshot launches k1 reasoning model"]
    cp = json.loads((tmp_path / "state" / "hn.json").read_text())
    assert cp["data"]["newest"] == {"Kimi Moonshot": T0 + 9000}
    assert registry2.get_sample_value("appwatch_connector_events_total", {"connector": "hn"}) == 1


async def test_same_story_from_two_queries_is_one_event(api, data, sink, registry, make_runner):
    story = hit(42135790, "ByteDance poaches Alibaba Tongyi Qwen lead", T0)
    for query in ("Qwen", "ByteDance"):
        api.expect_request(SEARCH, query_string=q(query, start(data))).respond_with_json(page(query, [story], 0, 1))
    async with make_runner(hn_yaml(api, "Qwen", "ByteDance"), sink) as r:
        [res] = await r.run_once()
    assert (res.published, res.duplicates) == (1, 1)
    assert sample(registry, "appwatch_connector_duplicates_total", connector="hn") == 1


async def test_max_pages_caps_a_query(api, data, sink, make_runner, tmp_path):
    for n in range(3):
        api.expect_request(SEARCH, query_string=q("Qwen", start(data), n)).respond_with_json(
            page("Qwen", PAGES[n], n, 40)
        )
    async with make_runner(hn_yaml(api, "Qwen", max_pages=2), sink) as r:
        [res] = await r.run_once()
    assert res.published == 4 and len(api.log) == 2
    cp = json.loads((tmp_path / "state" / "hn.json").read_text())
    assert cp["data"]["newest"] == {"Qwen": T0 + 500}


async def test_a_failed_page_keeps_the_checkpoint(api, data, sink, sleeps, registry, make_runner, tmp_path):
    bad = [{"title": "no objectID"}, hit(42135799, "", T0 + 450)]  # two bad hits, counted
    api.expect_request(SEARCH, query_string=q("Doubao", start(data), 0)).respond_with_json(
        page("Doubao", PAGES[0] + bad, 0, 2)
    )
    api.expect_request(SEARCH, query_string=q("Doubao", start(data), 1)).respond_with_data(
        "upstream timeout", status=503
    )
    async with make_runner(hn_yaml(api, "Doubao"), sink) as r:
        [res] = await r.run_once()
    assert res.outcome == "partial" and res.published == 2  # page 0 is kept
    assert len(sleeps.calls) == 4  # page 1 retried, then given up
    errors = "appwatch_connector_errors_total"
    assert sample(registry, errors, connector="hn", reason="http_503") == 1
    assert sample(registry, errors, connector="hn", reason="bad_item") == 2
    cp = json.loads((tmp_path / "state" / "hn.json").read_text())
    assert cp["data"] == {"newest": {}}  # the next poll asks from the same point again


async def test_wrong_shape_is_counted(api, data, sink, registry, make_runner):
    api.expect_request(SEARCH).respond_with_json({"message": "Invalid value for numericFilters", "status": 400})
    async with make_runner(hn_yaml(api, "Doubao"), sink) as r:
        [res] = await r.run_once()
    assert res.published == 0
    assert sample(registry, "appwatch_connector_errors_total", connector="hn", reason="bad_payload") == 1
