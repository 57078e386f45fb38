"""Slack: the Block Kit payload (pure), the rate limiter (fake clock) and classification (MockTransport)."""

import asyncio
import json

import httpx
import orjson
import pytest

from alerts.notify.slack import (
    MAX_BLOCKS,
    RateLimiter,
    SlackError,
    SlackNotifier,
    blocks,
    body,
    escape,
    human,
    link,
    ratio,
)
from core.alert import Alert, alert_id
from core.retry import DeliveryError, retry_after

LABELS = {"app_id": "doubao", "platform": "all", "country": "cn", "metric": "downloads"}
HOOK = "https://hooks.slack.test/services/T0/B0/secret"
NEWS = {
    "event_id": "n1",
    "ts": "2024-11-13T09:00:00+08:00",
    "title": "字节跳动挖角阿里通义千问技术负责人",
    "url": "https://news.test/a?x=1&y=2",
    "kind": "hire",
    "companies": ["bytedance"],
    "people": ["周畅"],
}


def alert(n: int = 0, **over) -> Alert:
    labels = {**LABELS, "app_id": f"app{n}"} if n else LABELS
    base = {
        "alert_id": alert_id("download-spike", labels, "2024-11-14T00:00:00+08:00"),
        "rule": "download-spike",
        "kind": "spike",
        "labels": labels,
        "value": 2.4e6,
        "baseline": 8e5,
        "window_start": "2024-11-14T00:00:00+08:00",
        "event_ts": "2024-11-14T00:00:00+08:00",
        "summary": "豆包 downloads 2.4M, 3.0× the 7-day median",
        "context": [NEWS],
    }
    return Alert(**{**base, **over})


def texts(payload: dict) -> list[str]:
    """Every text string in the payload's blocks."""
    out = []
    for b in payload["blocks"]:
        if "text" in b:
            out.append(b["text"]["text"])
        out += [f["text"] for f in b.get("fields", [])]
        out += [e["text"] for e in b.get("elements", [])]
    return out


def assert_within_limits(payload: dict) -> None:
    bl = payload["blocks"]
    assert 1 <= len(bl) <= MAX_BLOCKS
    assert bl[0]["type"] == "header" and bl[0]["text"]["type"] == "plain_text"
    assert 0 < len(bl[0]["text"]["text"]) <= 150
    for b in bl:
        if b["type"] == "section":
            assert 0 < len(b["text"]["text"]) <= 3000
            assert len(b.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in b.get("fields", []))
        if b["type"] == "context":
            assert 1 <= len(b["elements"]) <= 10
    assert payload["text"] and len(payload["text"]) <= 3000
    json.dumps(payload)  # serialisable


# -- payload -----------------------------------------------------------------


def test_single_alert_message():
    p = blocks([alert()])
    assert_within_limits(p)
    header, section, context = p["blocks"]
    assert header["text"]["text"] == "🔥 firing: download-spike"
    assert "*download-spike*" in section["text"]["text"]
    assert "豆包 downloads 2.4M, 3.0× the 7-day median" in section["text"]["text"]
    assert [f["text"] for f in section["fields"]] == [
        "*App*\ndoubao",
        "*Value*\n2.4M",
        "*Baseline*\n800k",
        "*Ratio*\n3.0×",
    ]
    labels = context["elements"][-1]["text"]
    assert "app_id=doubao" in labels and "country=cn" in labels
    assert "2024-11-14 00:00 +08:00" in context["elements"][0]["text"]
    assert p["text"].startswith("🔥 firing: download-spike\n豆包 downloads")
    assert p["unfurl_links"] is False


def test_group_header_counts_firing_and_resolved():
    group = [
        alert(1),
        alert(2),
        alert(3, status="resolved", rule="rank-top10-entry", kind="rank", value=3, baseline=12),
    ]
    p = blocks(group)
    assert p["blocks"][0]["text"]["text"] == "🔥 2 firing · ✅ 1 resolved: download-spike, rank-top10-entry"
    assert blocks([alert(1, status="resolved")])["blocks"][0]["text"]["text"] == "✅ resolved: download-spike"
    assert blocks([alert(1), alert(2)])["blocks"][0]["text"]["text"] == "🔥 2 firing: download-spike"
    rank = p["blocks"][5]
    assert "resolved" in rank["text"]["text"]
    assert [f["text"] for f in rank["fields"]] == ["*App*\napp3", "*Rank*\n#3", "*Previous*\n#12"]
    assert len(p["blocks"]) == 1 + 2 * 3


def test_title_overrides_header_and_is_cut_to_150():
    assert blocks([alert()], title="Daily digest")["blocks"][0]["text"]["text"] == "Daily digest"
    p = blocks([alert()], title="x" * 400)
    assert len(p["blocks"][0]["text"]["text"]) == 150
    p = blocks([alert(rule="r" * 300)])
    assert len(p["blocks"][0]["text"]["text"]) == 150 and p["blocks"][0]["text"]["text"].endswith("…")


def test_mrkdwn_escaping_of_summary_labels_and_news_title():
    evil = alert(
        summary="<!channel> A&B <b>x</b>",
        labels={"app_id": "a<b>", "note": "x&y"},
        context=[{**NEWS, "title": "Q&A <script>"}],
    )
    p = blocks([evil])
    section, context = p["blocks"][1], p["blocks"][2]
    assert "&lt;!channel&gt; A&amp;B &lt;b&gt;x&lt;/b&gt;" in section["text"]["text"]
    assert "<!channel>" not in json.dumps(p, ensure_ascii=False)
    assert "|Q&amp;A &lt;script&gt;>" in section["text"]["text"]
    assert section["fields"][0]["text"] == "*App*\na&lt;b&gt;"
    assert "app_id=a&lt;b&gt; · note=x&amp;y" in context["elements"][-1]["text"]
    assert "&lt;!channel&gt;" in p["text"] and "<!channel>" not in p["text"]


def test_news_links_and_url_escaping():
    p = blocks(
        [
            alert(
                context=[
                    NEWS,
                    {**NEWS, "url": "https://n.test/p|q>r<s", "title": "pipe"},
                    {**NEWS, "url": "javascript:alert(1)", "title": "not a link"},
                    {**NEWS, "url": None, "title": "no url"},
                ]
            )
        ]
    )
    text = p["blocks"][1]["text"]["text"]
    assert "📰 <https://news.test/a?x=1&amp;y=2|字节跳动挖角阿里通义千问技术负责人>" in text
    assert "<https://n.test/p%7Cq%3Er%3Cs|pipe>" in text
    assert "📰 not a link" in text and "javascript:" not in text
    assert "📰 no url" in text
    assert link("https://a.test/", "multi\nline title") == "<https://a.test/|multi line title>"
    assert escape("a&b<c>d") == "a&amp;b&lt;c&gt;d"


def test_chinese_passes_through_intact():
    a = alert(summary="豆包 下载量激增", labels={**LABELS, "app_name": "豆包"})
    p = blocks([a])
    assert "豆包 下载量激增" in p["blocks"][1]["text"]["text"]
    assert "字节跳动挖角阿里通义千问技术负责人" in p["blocks"][1]["text"]["text"]
    raw = body([a])
    assert "豆包".encode() in raw and "字节跳动挖角阿里通义千问技术负责人".encode() in raw
    assert b"\\u" not in raw
    assert orjson.loads(raw) == p


def test_200_alerts_stay_within_50_blocks_with_a_tail():
    group = [alert(i) for i in range(200)]
    p = blocks(group)
    assert_within_limits(p)
    assert len(p["blocks"]) == 50
    tail = p["blocks"][-1]
    assert tail["type"] == "section" and tail["text"]["text"].startswith("…and 176 more")
    assert "download-spike ×176" in tail["text"]["text"]
    assert p["blocks"][0]["text"]["text"] == "🔥 200 firing: download-spike"
    assert p["text"].endswith("…and 195 more")
    # exactly at the limit: 24 alerts = 49 blocks, no tail; 25 need one
    assert len(blocks(group[:24])["blocks"]) == 49
    assert blocks(group[:25])["blocks"][-1]["text"]["text"].startswith("…and 1 more")


def test_long_summary_is_cut_at_3000_without_breaking_entities():
    p = blocks([alert(summary="&" * 5000)])
    text = p["blocks"][1]["text"]["text"]
    assert len(text) <= 3000 and text.endswith("…")
    body_ = text.split("\n", 1)[1][:-1]
    assert body_ and body_.replace("&amp;", "") == ""  # only whole entities
    p = blocks([alert(summary="豆" * 5000, context=[NEWS] * 3)])
    text = p["blocks"][1]["text"]["text"]
    assert len(text) <= 3000 and "豆豆豆" in text
    assert_within_limits(p)


def test_news_that_does_not_fit_is_counted():
    many = [{**NEWS, "title": f"{i} " + "新闻" * 140} for i in range(30)]
    text = blocks([alert(summary="short", context=many)])["blocks"][1]["text"]["text"]
    assert len(text) <= 3000
    shown = text.count("📰")
    assert 0 < shown < 30 and text.endswith(f"…and {30 - shown} more news")


def test_fields_capped_and_huge_labels_cut():
    p = blocks([alert(labels={"app_id": "x" * 5000, **{f"k{i}": "v" * 500 for i in range(20)}})])
    assert_within_limits(p)
    assert all(len(e["text"]) <= 2000 for e in p["blocks"][2]["elements"])


def test_optional_values_and_formatting():
    p = blocks([alert(value=None, baseline=None, labels={})])
    assert "fields" not in p["blocks"][1]
    assert len(p["blocks"][2]["elements"]) == 1
    p = blocks([alert(value=12.0, baseline=0.0)])
    assert [f["text"] for f in p["blocks"][1]["fields"]][1:] == ["*Value*\n12", "*Baseline*\n0"]
    assert p["blocks"][0]["text"]["text"].startswith("🔥")
    assert blocks([alert(late=True)])["blocks"][2]["elements"][0]["text"].endswith("⏳ late")
    assert [human(v) for v in (2.4e6, 8e5, 812345, 1.5e8, 999, 2.5, None)] == [
        "2.4M",
        "800k",
        "812k",
        "150M",
        "999",
        "2.5",
        "—",
    ]
    assert ratio(2.4e6, 8e5) == "3.0×" and ratio(1, 0) is None and ratio(None, 1) is None
    with pytest.raises(ValueError):
        blocks([])


# -- rate limiter ------------------------------------------------------------


class FakeTime:
    def __init__(self, t: float = 1000.0, advance: bool = False) -> None:
        self.t, self.advance, self.slept = t, advance, []

    def clock(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.slept.append(s)
        if self.advance:
            self.t += s


def test_three_acquires_in_the_same_second_wait_1_and_2():
    ft = FakeTime()
    rl = RateLimiter(clock=ft.clock, sleep=ft.sleep)

    async def main():
        return await asyncio.gather(*(rl.acquire(HOOK) for _ in range(3)))

    assert asyncio.run(main()) == [0, 1.0, 2.0]
    assert ft.slept == [1.0, 2.0]


def test_limiter_is_per_key_and_configurable():
    ft = FakeTime(advance=True)
    rl = RateLimiter(0.5, clock=ft.clock, sleep=ft.sleep)

    async def main():
        for _ in range(3):
            await rl.acquire("a")
        await rl.acquire("b")  # another webhook is not held up
        ft.t += 10
        await rl.acquire("a")  # a quiet key does not wait

    asyncio.run(main())
    assert ft.slept == [0.5, 0.5]


def test_hold_defers_the_next_slot_capped():
    ft = FakeTime()
    rl = RateLimiter(clock=ft.clock, sleep=ft.sleep, max_hold=30)
    rl.hold("a", 5)
    rl.hold("b", 3600)
    asyncio.run(rl.acquire("a"))
    asyncio.run(rl.acquire("b"))
    assert ft.slept == [5, 30]


# -- notifier ----------------------------------------------------------------


def notifier(handler, ft: FakeTime | None = None, **kw) -> SlackNotifier:
    ft = ft or FakeTime()
    return SlackNotifier(
        HOOK, transport=httpx.MockTransport(handler), clock=ft.clock, sleep=ft.sleep, now=lambda: 1_700_000_000.0, **kw
    )


def test_notify_posts_the_single_alert_payload():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, text="ok")

    n = notifier(handler)
    assert (n.name, n.kind, n.resend_interval) == ("slack", "slack", None) and "secret" not in repr(n)
    assert asyncio.run(n.notify([alert()])) is None
    (req,) = seen
    assert str(req.url) == HOOK and req.method == "POST"
    assert req.headers["content-type"] == "application/json; charset=utf-8"
    assert orjson.loads(req.content) == blocks([alert()])


def test_a_group_is_one_message_and_an_empty_one_none():
    seen = []
    n = notifier(lambda r: seen.append(r) or httpx.Response(200, text="ok"))
    assert asyncio.run(n.notify([alert(1), alert(2, status="resolved")])) is None
    assert asyncio.run(n.notify([])) is None
    assert len(seen) == 1
    assert orjson.loads(seen[0].content)["blocks"][0]["text"]["text"] == "🔥 1 firing · ✅ 1 resolved: download-spike"


def test_posts_are_spaced_by_the_shared_limiter():
    ft = FakeTime()
    rl = RateLimiter(clock=ft.clock, sleep=ft.sleep)
    a = notifier(lambda r: httpx.Response(200, text="ok"), limiter=rl)
    b = notifier(lambda r: httpx.Response(200, text="ok"), limiter=rl, name="slack-2")

    async def main():
        await asyncio.gather(a.notify([alert(1)]), b.notify([alert(2)]), a.notify([alert(3)]))

    asyncio.run(main())
    assert ft.slept == [1.0, 2.0]


def test_429_is_retried_with_retry_after():
    ft = FakeTime()
    n = notifier(lambda r: httpx.Response(429, text="rate_limited", headers={"Retry-After": "7"}), ft)
    err = asyncio.run(n.notify([alert()]))
    assert isinstance(err, SlackError) and isinstance(err, DeliveryError) and err.retryable is True
    assert err.status == 429 and err.retry_after == 7 and not err.permanent
    assert "rate_limited" in str(err) and "secret" not in str(err)
    asyncio.run(n.notify([alert()]))  # the next post waits for Retry-After
    assert ft.slept == [7]


@pytest.mark.parametrize(
    "status,text,retry,gone",
    [
        (500, "internal_error", True, False),
        (502, "<html>bad gateway</html>", True, False),
        (503, "", True, False),
        (408, "", True, False),
        (425, "", True, False),
        (400, "invalid_payload", False, False),
        (400, "invalid_blocks", False, False),
        (403, "action_prohibited", False, False),
        (404, "no_service", False, False),
        (404, "channel_not_found", False, False),
        (410, "channel_is_archived", False, True),
        (410, "", False, True),
    ],
)
def test_status_classification(status, text, retry, gone):
    err = asyncio.run(notifier(lambda req: httpx.Response(status, text=text)).notify([alert()]))
    assert err.retryable is retry
    assert isinstance(err, SlackError) and err.status == status and err.permanent is gone
    assert err.body == text and text[:50] in str(err) and err.retry_after is None


@pytest.mark.parametrize("status", [200, 201, 204])
def test_2xx_is_delivered(status):
    assert asyncio.run(notifier(lambda r: httpx.Response(status)).notify([alert()])) is None


def test_odd_news_items_still_deliver():
    seen = []
    odd = alert(context=[{**NEWS, "extra": {1, 2}, "title": 123}, {}])  # only title/url are used
    assert asyncio.run(notifier(lambda r: seen.append(r) or httpx.Response(200)).notify([odd])) is None
    text = orjson.loads(seen[0].content)["blocks"][1]["text"]["text"]
    assert "<https://news.test/a?x=1&amp;y=2|123>" in text and "📰 untitled" in text


@pytest.mark.parametrize("exc", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_transport_errors_are_retried(exc):
    def boom(request):
        raise exc("nope", request=request)

    err = asyncio.run(notifier(boom).notify([alert()]))
    assert isinstance(err, DeliveryError) and err.retryable is True and isinstance(err.__cause__, exc)
    assert str(err) == f"{exc.__name__}: nope"


def test_a_transport_error_naming_the_url_is_redacted():
    def boom(request):
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    err = asyncio.run(notifier(boom).notify([alert()]))
    assert err.retryable and "cannot reach" in str(err) and "secret" not in str(err)


def test_retry_after_header():
    now = 1_700_000_000.0
    assert retry_after("1", now) == 1
    assert retry_after("2.5", now) == 2.5
    assert retry_after("-3", now) == 0
    assert retry_after("Tue, 14 Nov 2023 22:13:40 GMT", now) == 20
    assert retry_after("soon", now) is None
    assert retry_after(None, now) is None
