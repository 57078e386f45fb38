import math

import orjson
import pytest

from core.events import MAX_EVENT_BYTES, AppMetric, InvalidEvent, News, Topics, decode, event_id

METRIC = dict(
    event_id="e1",
    type="app.metric",
    source="t",
    ts="2024-11-14T00:00:00+08:00",
    app_id="doubao",
    app_name="Doubao",
    platform="all",
    country="cn",
    metric="downloads",
    value=800000,
    period="day",
)


def raw(**over):
    return orjson.dumps({**METRIC, **over})


def test_valid_metric_defaults_and_key():
    ev = decode(raw())
    assert isinstance(ev, AppMetric)
    assert ev.mode == "total" and ev.key == "doubao|cn"
    assert ev.ts.utcoffset().total_seconds() == 8 * 3600


def test_unknown_fields_are_kept():
    ev = decode(raw(vendor_note="x"))
    assert orjson.loads(ev.to_json())["vendor_note"] == "x"


def test_rank_and_news():
    rank = decode(
        orjson.dumps(
            dict(
                event_id="r",
                type="app.rank",
                source="t",
                ts="2024-11-14T09:00:00Z",
                app_id="kimi",
                platform="ios",
                country="cn",
                chart="top-free",
                rank=3,
            )
        )
    )
    assert rank.category == "all" and rank.key == "kimi|cn"
    news = decode(
        orjson.dumps(
            dict(
                event_id="n",
                type="news",
                source="t",
                ts="2024-11-13T10:00:00+08:00",
                url="https://e.com/a",
                title="字节跳动挖角通义千问技术负责人",
            )
        )
    )
    assert isinstance(news, News) and news.companies is None


@pytest.mark.parametrize(
    "payload,reason,field",
    [
        (raw(value=-1), "value:greater_than_equal", "value"),
        (raw(country="CHN"), "country:string_pattern_mismatch", "country"),
        (raw(ts="2024-11-14T00:00:00"), "ts:timezone_aware", "ts"),
        (raw(type="app.chart"), "type:union_tag_invalid", "type"),
        (raw(metric="likes"), "metric:literal_error", "metric"),
        (raw(app_id="Dou Bao"), "app_id:string_pattern_mismatch", "app_id"),
        (orjson.dumps({k: v for k, v in METRIC.items() if k != "event_id"}), "event_id:missing", "event_id"),
        (b'{"type": "app.metric",', "json", "JSON"),
        (b"[1, 2]", "not_object", "object"),
        (b"\xff\xfe", "json", "UTF-8"),
    ],
)
def test_invalid_events_name_the_field(payload, reason, field):
    with pytest.raises(InvalidEvent) as exc:
        decode(payload)
    assert exc.value.reason == reason
    assert field in str(exc.value)


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"1e400", b"-Infinity"])
def test_non_finite_numbers_are_rejected(number):
    payload = raw().replace(b'"value":800000', b'"value":' + number)
    assert number in payload
    with pytest.raises(InvalidEvent):
        decode(payload)


def test_oversized_event_is_rejected_before_parsing():
    with pytest.raises(InvalidEvent) as exc:
        decode(raw(title="x" * MAX_EVENT_BYTES))
    assert exc.value.reason == "too_large"


def test_event_id_is_deterministic():
    assert event_id("demo", "doubao", 1) == event_id("demo", "doubao", 1)
    assert event_id("demo", "doubao", 1) != event_id("demo", "doubao", 2)
    assert event_id("a", "bc") != event_id("ab", "c")


def test_topics():
    t = Topics("x.")
    assert t.events == ("x.events.metrics", "x.events.ranks", "x.events.news")
    assert t.for_event({"type": "news"}) == "x.events.news"
    assert t.for_event(decode(raw())) == "x.events.metrics"
    assert not math.isnan(decode(raw()).value)
