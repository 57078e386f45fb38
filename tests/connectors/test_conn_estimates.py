"""``download_estimates`` against a fake Sensor Tower-shaped API on 127.0.0.1."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from core.events import AppMetric

pytestmark = pytest.mark.anyio

TOKEN = "st-4f9c2a7e1b-secret"
IOS = "/v1/ios/sales_report_estimates"
ANDROID = "/v1/android/sales_report_estimates"
DOUBAO, KIMI = 6459478672, 6474233312


def est_yaml(
    api, os="ios", app_ids=(DOUBAO, KIMI), countries=("CN", "US"), limit=1000, auth=f"token: {TOKEN}", name="st"
) -> str:
    return f"""
connectors:
  - name: {name}
    kind: download_estimates
    params:
      base_url: {api.url_for("/")}
      {auth}
      os: {os}
      app_ids: [{", ".join(map(str, app_ids))}]
      countries: [{", ".join(countries)}]
      lookback_days: 7
      limit: {limit}
"""


def query(offset=0, limit=1000, app_ids=(DOUBAO, KIMI), countries="CN,US", token=TOKEN) -> dict:
    # NOW is 2024-11-26 04:40 UTC: the window is the 7 complete days before it
    return {
        "app_ids": ",".join(map(str, app_ids)),
        "countries": countries,
        "date_granularity": "daily",
        "start_date": "2024-11-19",
        "end_date": "2024-11-25",
        "auth_token": token,
        "limit": str(limit),
        "offset": str(offset),
    }


def ios_row(aid, cc, day, iu, ir, au=0, ar=0) -> dict:
    return {"aid": aid, "cc": cc, "d": f"2024-11-{day}T00:00:00Z", "iu": iu, "ir": ir, "au": au, "ar": ar}


ROWS = [
    ios_row(DOUBAO, "CN", 24, 812_345, 1_234_567, 41_200, 88_000),
    ios_row(DOUBAO, "CN", 25, 798_001, 1_190_000, 40_010, 81_500),
    ios_row(DOUBAO, "US", 25, 3_120, 0),
    ios_row(KIMI, "CN", 24, 102_400, 560_300, 8_800, 12_000),
    ios_row(KIMI, "CN", 25, 99_870, 541_000, 8_650, 11_900),
]


def sample(registry, name, **labels) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def test_three_pages_are_fetched_and_mapped(api, sink, registry, make_runner):
    for offset, page in ((0, ROWS[0:2]), (2, ROWS[2:4]), (4, ROWS[4:])):
        api.expect_ordered_request(IOS, query_string=query(offset, 2)).respond_with_json(page)
    async with make_runner(est_yaml(api, limit=2), sink) as r:
        [res] = await r.run_once()

    assert (res.outcome, res.published, res.errors) == ("ok", 10, [])
    assert [req.args["offset"] for req, _ in api.log] == ["0", "2", "4"]  # stops at the short page
    evs = sink.events
    assert all(isinstance(e, AppMetric) for e in evs)
    first = evs[:2]
    assert [(e.app_id, e.platform, e.country, e.metric, e.value) for e in first] == [
        ("doubao", "ios", "cn", "downloads", 853_545),
        ("doubao", "ios", "cn", "revenue", 13_225.67),
    ]
    assert {(e.period, e.mode) for e in evs} == {("day", "total")}
    assert first[0].ts.isoformat() == "2024-11-24T00:00:00+00:00"
    assert [(e.app_id, e.country, e.ts.day, e.value) for e in evs if e.metric == "downloads"] == [
        ("doubao", "cn", 24, 853_545),
        ("doubao", "cn", 25, 838_011),
        ("doubao", "us", 25, 3_120),
        ("kimi", "cn", 24, 111_200),
        ("kimi", "cn", 25, 108_520),
    ]
    assert sample(registry, "appwatch_connector_events_total", connector="st") == 10


async def test_android_rows_and_a_next_offset_envelope(api, sink, make_runner):
    q = dict(query(app_ids=("com.larus.nova", "com.example.unknown"), countries="CN"))
    rows = [
        {"aid": "com.larus.nova", "c": "CN", "d": "2024-11-25T00:00:00Z", "u": 800_000, "r": 123},
        {"aid": "com.example.unknown", "c": "CN", "d": "2024-11-25T00:00:00Z", "u": 12, "r": 0},
    ]
    api.expect_ordered_request(ANDROID, query_string=q).respond_with_json({"data": rows[:1], "next_offset": 1})
    api.expect_ordered_request(ANDROID, query_string={**q, "offset": "1"}).respond_with_json(
        {"data": rows[1:], "next_offset": None}
    )
    yaml_text = est_yaml(api, os="android", app_ids=("com.larus.nova", "com.example.unknown"), countries=("cn",))
    async with make_runner(yaml_text, sink) as r:
        [res] = await r.run_once()
    assert res.outcome == "ok" and len(api.log) == 2
    assert [(e.app_id, e.platform, e.country, e.metric, e.value) for e in sink.events] == [
        ("doubao", "android", "cn", "downloads", 800_000),
        ("doubao", "android", "cn", "revenue", 1.23),
        ("android-com.example.unknown", "android", "cn", "downloads", 12),
        ("android-com.example.unknown", "android", "cn", "revenue", 0),
    ]


@pytest.mark.parametrize("status", [401, 403])
async def test_a_bad_token_is_a_clear_counted_error(api, sink, registry, make_runner, caplog, status):
    api.expect_request(IOS).respond_with_json({"errors": ["Invalid authentication token"]}, status=status)
    caplog.set_level(logging.DEBUG)
    async with make_runner(est_yaml(api), sink) as r:
        [res] = await r.run_once()
    assert res.outcome == "error" and sink.events == [] and len(api.log) == 1  # not retried
    assert f"HTTP {status}" in res.errors[0] and "auth token was rejected" in res.errors[0]
    assert sample(registry, "appwatch_connector_errors_total", connector="st", reason="auth") == 1
    assert TOKEN not in res.errors[0] and "auth_token=***" in res.errors[0]
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")  # not the fake API's
    assert TOKEN not in ours and "auth_token=***" in ours  # httpx logs each URL at INFO


async def test_token_env(api, sink, make_runner, monkeypatch):
    api.expect_request(IOS, query_string=query()).respond_with_json(ROWS[:1])
    monkeypatch.setenv("ST_TOKEN", TOKEN)
    async with make_runner(est_yaml(api, auth="token_env: ST_TOKEN"), sink) as r:
        [res] = await r.run_once()
    assert (res.outcome, res.published) == ("ok", 2)

    monkeypatch.delenv("ST_TOKEN")
    registry = CollectorRegistry()
    async with make_runner(est_yaml(api, auth="token_env: ST_TOKEN"), sink, registry=registry) as r:
        [res] = await r.run_once()
    # no token: the instance is skipped (not an error), saying which variable to set
    assert res.outcome == "skipped" and res.ok and "ST_TOKEN is not set" in res.errors[0]
    assert sample(registry, "appwatch_connector_polls_total", connector="st", outcome="skipped") == 1
    assert sample(registry, "appwatch_connector_errors_total", connector="st", reason="auth") == 0


async def test_a_bad_row_is_skipped_and_counted(api, sink, registry, make_runner):
    rows = [ROWS[0], {**ROWS[1], "iu": "n/a"}, {**ROWS[2], "d": "yesterday"}, {**ROWS[3], "cc": None}, ROWS[4]]
    api.expect_request(IOS, query_string=query()).respond_with_json(rows)
    async with make_runner(est_yaml(api), sink) as r:
        [res] = await r.run_once()
    assert (res.outcome, res.published) == ("partial", 4)
    assert [(e.app_id, e.ts.day) for e in sink.events if e.metric == "downloads"] == [("doubao", 24), ("kimi", 25)]
    assert sample(registry, "appwatch_connector_errors_total", connector="st", reason="bad_row") == 3
    assert any("row 1: bad 'iu': 'n/a'" in e for e in res.errors)
    assert any('row 2: bad day "d"' in e for e in res.errors)


async def test_500_then_success(api, sink, sleeps, make_runner, caplog):
    api.expect_ordered_request(IOS).respond_with_data("upstream error", status=500)
    api.expect_ordered_request(IOS, query_string=query()).respond_with_json(ROWS)
    caplog.set_level(logging.INFO)
    async with make_runner(est_yaml(api), sink) as r:
        [res] = await r.run_once()
    assert sleeps.calls == [0.5]
    [retry] = [m for m in caplog.messages if "retry 1/4" in m]  # connectors.http names the URL
    assert "auth_token=***" in retry and TOKEN not in retry
    assert (res.outcome, res.published) == ("ok", 10)


async def test_429_retry_after_is_honoured(api, sink, sleeps, registry, make_runner):
    api.expect_ordered_request(IOS, query_string=query(0, 2)).respond_with_json(ROWS[:2])
    api.expect_ordered_request(IOS).respond_with_data("Too Many Requests", status=429, headers={"Retry-After": "12"})
    api.expect_ordered_request(IOS, query_string=query(2, 2)).respond_with_json(ROWS[2:3])
    async with make_runner(est_yaml(api, limit=2), sink) as r:
        [res] = await r.run_once()
    assert sleeps.calls == [12.0]
    assert (res.outcome, res.published) == ("ok", 6)
    assert sample(registry, "appwatch_connector_errors_total", connector="st", reason="rate_limited") == 0


async def test_malformed_json_is_counted_and_earlier_pages_kept(api, sink, registry, make_runner):
    api.expect_ordered_request(IOS, query_string=query(0, 2)).respond_with_json(ROWS[:2])
    api.expect_ordered_request(IOS, query_string=query(2, 2)).respond_with_data(
        '[{"aid": 6459478672, "cc": "US", "d": "2024-11-25T00', content_type="application/json"
    )
    async with make_runner(est_yaml(api, limit=2), sink) as r:
        [res] = await r.run_once()
    assert (res.outcome, res.published) == ("partial", 4)
    assert "malformed JSON" in res.errors[0] and TOKEN not in res.errors[0]
    assert sample(registry, "appwatch_connector_errors_total", connector="st", reason="bad_json") == 1


async def test_wrong_shape_is_counted(api, sink, registry, make_runner):
    api.expect_request(IOS).respond_with_json({"message": "unexpected"})
    async with make_runner(est_yaml(api), sink) as r:
        [res] = await r.run_once()
    assert res.outcome == "partial" and sink.events == []  # fetched, nothing usable
    assert sample(registry, "appwatch_connector_errors_total", connector="st", reason="bad_payload") == 1


async def test_restart_from_checkpoint_gives_no_duplicates(api, tmp_path, make_runner):
    api.expect_request(IOS, query_string=query()).respond_with_json(ROWS)
    first, second = [], []

    class Collect:
        def __init__(self, into):
            self.send, self.flush = into.append, lambda: None

    async with make_runner(est_yaml(api), Collect(first)) as r:
        await r.run_once()
    assert len(first) == 10
    assert TOKEN not in (tmp_path / "state" / "st.json").read_text()

    registry2 = CollectorRegistry()  # a new process, the same estimates re-polled
    async with make_runner(est_yaml(api), Collect(second), registry=registry2) as r2:
        [res] = await r2.run_once()
    assert (res.published, res.duplicates, second) == (0, 10, [])
    assert sample(registry2, "appwatch_connector_duplicates_total", connector="st") == 10

    # a revised estimate for one day is a new fact; the rest stay duplicates
    api.clear()
    api.expect_request(IOS, query_string=query()).respond_with_json([*ROWS[:4], {**ROWS[4], "iu": 101_000}])
    async with make_runner(est_yaml(api), Collect(second), registry=CollectorRegistry()) as r3:
        [res] = await r3.run_once()
    assert (res.published, res.duplicates) == (1, 9)
    assert [(e.app_id, e.metric, e.value) for e in second] == [("kimi", "downloads", 109_650)]


def test_params_need_exactly_one_token():
    from connectors.download_estimates import DownloadEstimatesParams

    with pytest.raises(ValidationError) as exc:
        DownloadEstimatesParams(os="ios", app_ids=[DOUBAO])
    assert exc.value.errors()[0]["msg"] == "Value error, give exactly one of token, token_env and token_file"
    with pytest.raises(ValidationError) as exc:
        DownloadEstimatesParams(os="ios", app_ids=[DOUBAO], token=TOKEN, token_file="/run/secrets/st")
    assert exc.value.errors()[0]["msg"].endswith(
        "exactly one of token, token_env and token_file (got token and token_file)"
    )
    assert TOKEN not in str(exc.value)  # the input is not echoed
    p = DownloadEstimatesParams(os="ios", app_ids=[DOUBAO], token=TOKEN)
    assert TOKEN not in repr(p) and p.app_ids == [str(DOUBAO)]


async def test_token_file(api, sink, make_runner, tmp_path, caplog):
    api.expect_request(IOS, query_string=query()).respond_with_json(ROWS[:1])
    path = tmp_path / "st-token"
    path.write_text(TOKEN + "\n")  # the trailing newline of `echo token > file` is not part of it
    caplog.set_level(logging.INFO)
    async with make_runner(est_yaml(api, auth=f"token_file: {path}"), sink) as r:
        [res] = await r.run_once()
    assert (res.outcome, res.published) == ("ok", 2)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name != "werkzeug")
    assert TOKEN not in ours and "auth_token=***" in ours

    path.write_text("\n")
    async with make_runner(est_yaml(api, auth=f"token_file: {path}"), sink, registry=CollectorRegistry()) as r:
        [res] = await r.run_once()
    assert res.outcome == "skipped" and f"params.token_file: file {path} is empty" in res.errors[0]
    path.unlink()
    async with make_runner(est_yaml(api, auth=f"token_file: {path}"), sink, registry=CollectorRegistry()) as r:
        [res] = await r.run_once()
    assert res.outcome == "skipped" and f"params.token_file: file {path} does not exist" in res.errors[0]


async def test_the_token_mask_is_on_the_http_loggers_only_during_a_poll(api, sink, make_runner, caplog):
    api.expect_request(IOS, query_string=query()).respond_with_json(ROWS[:1])
    caplog.set_level(logging.INFO)
    loggers = [logging.getLogger(name) for name in ("httpx", "connectors.http")]
    before = [list(logger.filters) for logger in loggers]
    seen = []

    class Spy(logging.Filter):  # what is on the httpx logger while the request is logged
        def filter(self, record):
            seen.append(list(loggers[0].filters))
            return True

    spy = Spy()
    loggers[0].addFilter(spy)
    try:
        async with make_runner(est_yaml(api), sink) as r:
            [res] = await r.run_once()
    finally:
        loggers[0].removeFilter(spy)
    assert res.outcome == "ok" and seen and all(len(filters) == len(before[0]) + 2 for filters in seen)
    assert [list(logger.filters) for logger in loggers] == before  # nothing left behind
