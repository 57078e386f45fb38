"""``greenhouse`` and ``lever`` job boards against a fake API on 127.0.0.1."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry

from core.events import AppMetric, News

pytestmark = pytest.mark.anyio

GH = "/v1/boards/bytedance/jobs"
LEVER = "/v0/postings/moonshot"


def gh_job(id_, title, dept, loc="Beijing", updated="2024-11-20T10:00:00-05:00") -> dict:
    return {
        "id": id_,
        "internal_job_id": id_ - 1000,
        "title": title,
        "updated_at": updated,
        "requisition_id": f"R{id_}",
        "location": {"name": loc},
        "absolute_url": f"https://boards.greenhouse.io/bytedance/jobs/{id_}",
        "metadata": None,
        "data_compliance": [],
        "departments": [{"id": 77, "name": dept, "child_ids": [], "parent_id": None}],
        "offices": [{"id": 5, "name": loc, "location": loc}],
        "content": "&lt;p&gt;负责豆包大模型的训练与优化&lt;/p&gt;",
    }


GH_JOBS = [
    gh_job(4012345, "大模型算法工程师", "Doubao 大模型", updated="2024-11-25T10:00:00+08:00"),
    gh_job(4012346, "LLM Research Engineer", "Seed", "Singapore"),
    gh_job(4012347, "AI产品经理-豆包", "产品"),
    gh_job(4012348, "Backend Engineer", "AI Lab", "San Jose"),
    gh_job(4012349, "Senior GPU Kernel Engineer", "Infrastructure", "Shanghai"),
    gh_job(4012350, "Retail Operations Specialist", "Sales", "London"),  # "ai" in Retail: no
    gh_job(4012351, "财务分析师", "财务"),
    gh_job(4012352, "推荐算法专家", "抖音", updated="2024-09-01T09:00:00+08:00"),  # old posting
]


def gh_yaml(api, extra="", name="jobs") -> str:
    return f"""
connectors:
  - name: {name}
    kind: greenhouse
    params: {{base_url: "{api.url_for("/")}", board: bytedance, app_id: doubao{extra}}}
"""


def sample(registry, name, **labels) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_greenhouse_counts_postings_matching_zh_and_en_keywords(api, sink, registry, make_runner):
    api.expect_request(GH, query_string={"content": "true"}).respond_with_json(
        {"jobs": GH_JOBS, "meta": {"total": len(GH_JOBS)}}
    )
    async with make_runner(gh_yaml(api), sink) as r:
        [res] = await r.run_once()
        [again] = await r.run_once()  # the same count the same day: the same event

    assert (res.outcome, res.published, again.published, again.duplicates) == ("ok", 1, 0, 1)
    [ev] = sink.events
    assert isinstance(ev, AppMetric)
    # 大模型算法, LLM, AI产品, dept "AI Lab", GPU, 推荐算法; not Retail, not 财务
    assert (ev.app_id, ev.metric, ev.value, ev.period, ev.mode) == ("doubao", "job_postings", 6, "day", "total")
    assert (ev.platform, ev.country, ev.source) == ("all", "ww", "greenhouse")
    assert ev.ts.timestamp() == datetime(2024, 11, 26, 4, 40, tzinfo=UTC).timestamp()
    assert sample(registry, "appwatch_connector_events_total", connector="jobs") == 1
    assert sample(registry, "appwatch_connector_duplicates_total", connector="jobs") == 1


async def test_a_changed_count_is_a_new_event_and_a_304_keeps_the_last(api, sink, tmp_path, make_runner):
    api.expect_ordered_request(GH).respond_with_json({"jobs": GH_JOBS[:3]}, headers={"ETag": '"a"'})
    api.expect_ordered_request(GH).respond_with_json({"jobs": GH_JOBS}, headers={"ETag": '"b"'})
    api.expect_ordered_request(GH, headers={"If-None-Match": '"b"'}).respond_with_data(status=304)
    now = [datetime(2024, 11, 26, 4, 40, tzinfo=UTC).timestamp()]
    async with make_runner(gh_yaml(api), sink, clock=lambda: now[0]) as r:
        await r.run_once()
        await r.run_once()
        now[0] += 86400  # the next day, nothing changed on the board
        [res] = await r.run_once()
    assert res.outcome == "ok"
    assert [(e.ts.day, e.value) for e in sink.events] == [(26, 3), (26, 6), (27, 6)]
    assert len({e.event_id for e in sink.events}) == 3


async def test_lever_postings_with_custom_keywords(api, sink, make_runner):
    postings = [
        {
            "id": "5f1c9a2e-0b7d-4c1e-9f60-3a2b1c0d9e8f",
            "text": "LLM Research Engineer",
            "categories": {"team": "AI", "location": "Singapore", "commitment": "Full-time"},
            "hostedUrl": "https://jobs.lever.co/moonshot/5f1c9a2e",
            "createdAt": 1731400000000,
            "descriptionPlain": "Train Kimi's long-context models.",
        },
        {
            "id": "a7e2b3c4-1111-4e5f-8a9b-0c1d2e3f4a5b",
            "text": "机器学习平台工程师",
            "categories": {"team": "Infra", "location": "北京", "commitment": "全职"},
            "hostedUrl": "https://jobs.lever.co/moonshot/a7e2b3c4",
            "createdAt": 1731500000000,
        },
        {
            "id": "c3d4e5f6-2222-4a5b-9c8d-7e6f5a4b3c2d",
            "text": "HRBP",
            "categories": {"team": "People", "location": "北京"},
            "hostedUrl": "https://jobs.lever.co/moonshot/c3d4e5f6",
            "createdAt": 1731600000000,
        },
        {"text": "no id"},  # skipped, counted
    ]
    api.expect_request(LEVER, query_string={"mode": "json"}).respond_with_json(postings)
    yaml_text = f"""
connectors:
  - name: kimi-jobs
    kind: lever
    params:
      base_url: {api.url_for("/")}
      company: moonshot
      app_id: kimi
      keywords: [机器学习, Machine Learning, llm]
      country: cn
"""
    async with make_runner(yaml_text, sink) as r:
        [res] = await r.run_once()
    assert res.outcome == "partial" and 'no "id" or "text"' in res.errors[0]
    [ev] = sink.events
    assert (ev.app_id, ev.value, ev.country, ev.source) == ("kimi", 2, "cn", "lever")


async def test_postings_as_news_are_emitted_once(api, sink, registry, make_runner):
    api.expect_ordered_request(GH).respond_with_json({"jobs": GH_JOBS[:2] + GH_JOBS[5:]})
    new = gh_job(4012360, "多模态大模型研究员", "Seed", updated="2024-11-26T09:00:00+08:00")
    api.expect_ordered_request(GH).respond_with_json({"jobs": [new, *GH_JOBS[:2], *GH_JOBS[5:]]})
    api.expect_ordered_request(GH).respond_with_json({"jobs": [new, *GH_JOBS[:2], *GH_JOBS[5:]]})
    async with make_runner(gh_yaml(api, ", postings_as_news: true"), sink) as r:
        await r.run_once()
        first_events = sink.take()
        await r.run_once()
        second_events = sink.take()
        [third] = await r.run_once()

    news = [e for e in first_events if isinstance(e, News)]
    # the two recent matching postings; 推荐算法专家 (September) counts but is not news
    assert [n.title for n in news] == [
        "ByteDance is hiring: 大模型算法工程师",
        "ByteDance is hiring: LLM Research Engineer",
    ]
    n = news[0]
    assert (n.kind, n.companies, n.lang, n.url) == (
        "hire",
        ["ByteDance"],
        "zh",
        "https://boards.greenhouse.io/bytedance/jobs/4012345",
    )
    assert n.summary == "Doubao 大模型 · Beijing" and n.ts.isoformat() == "2024-11-25T10:00:00+08:00"
    assert news[1].lang == "en"
    assert [e.value for e in first_events if isinstance(e, AppMetric)] == [3]

    assert [getattr(e, "title", None) or e.value for e in second_events] == [
        4,
        "ByteDance is hiring: 多模态大模型研究员",
    ]
    assert (third.published, third.duplicates) == (0, 1)  # nothing new, count unchanged
    assert sample(registry, "appwatch_connector_events_total", connector="jobs") == 5


async def test_news_state_survives_a_restart(api, sink, make_runner):
    api.expect_request(GH).respond_with_json({"jobs": GH_JOBS[:1]})
    async with make_runner(gh_yaml(api, ", postings_as_news: true"), sink) as r:
        await r.run_once()
    assert [type(e).__name__ for e in sink.take()] == ["AppMetric", "News"]
    async with make_runner(gh_yaml(api, ", postings_as_news: true"), sink, registry=CollectorRegistry()) as r2:
        [res] = await r2.run_once()
    assert (res.published, sink.events) == (0, [])


async def test_bad_payloads_are_counted(api, sink, registry, make_runner):
    api.expect_ordered_request(GH).respond_with_json({"error": "board not found"})
    api.expect_ordered_request(GH).respond_with_data('{"jobs": [', content_type="application/json")
    api.expect_ordered_request(GH).respond_with_json({"jobs": "none"}, status=404)
    async with make_runner(gh_yaml(api), sink) as r:
        results = [(await r.run_once())[0] for _ in range(3)]
    assert [res.outcome for res in results] == ["partial", "error", "error"]
    assert sink.events == []
    for reason in ("bad_payload", "bad_json", "http_404"):
        assert sample(registry, "appwatch_connector_errors_total", connector="jobs", reason=reason) == 1
