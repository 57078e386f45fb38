"""``news_feed``: RSS 2.0 and Atom feeds served by a fake outlet on 127.0.0.1."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client import CollectorRegistry

from connectors.http import Http
from connectors.text import detect_lang, html_to_text
from core.events import News, event_id

pytestmark = pytest.mark.anyio

RSS_PATH, ATOM_PATH = "/36kr/feed", "/techcrunch/feed/"

# 36Kr-style RSS 2.0: CDATA and escaped HTML descriptions, a numeric guid, a dateless
# item, and two bad items (no link; a date nobody can parse)
RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel>
  <title>36氪</title>
  <link>https://36kr.com/</link>
  <description>36氪_让一部分人先看到未来</description>
  <language>zh-cn</language>
  <lastBuildDate>Wed, 13 Nov 2024 20:00:00 +0800</lastBuildDate>
  <item>
    <title>字节跳动挖角阿里通义千问技术负责人</title>
    <link>https://36kr.com/p/3012345678901</link>
    <guid isPermaLink="false">3012345678901</guid>
    <pubDate>Wed, 13 Nov 2024 16:01:02 +0800</pubDate>
    <description><![CDATA[<p>据知情人士透露，<strong>字节跳动</strong>已挖来阿里通义千问的技术负责人&nbsp;&amp;&nbsp;核心成员。</p>
<p><img src="https://img.36krcdn.com/a.png" alt="配图"/>此前，字节自2023年中起陆续从通义、文心和飞桨招人。</p>
<script>track('3012345678901')</script>]]></description>
  </item>
  <item>
    <title>前通义千问工程师卓畅陷竞业纠纷</title>
    <link>https://36kr.com/p/3012345678902</link>
    <guid isPermaLink="false">3012345678902</guid>
    <pubDate>Wed, 13 Nov 2024 18:30:00 +0800</pubDate>
    <description>&lt;p&gt;阿里巴巴与前员工&lt;b&gt;卓畅&lt;/b&gt;的竞业协议纠纷 &amp;lt;一审&amp;gt; 开庭。&lt;/p&gt;</description>
  </item>
  <item>
    <title>阿里将通义App并入智能信息事业群</title>
    <link>https://36kr.com/p/3012345678903</link>
    <guid isPermaLink="false">3012345678903</guid>
    <description>通义App从阿里云划入阿里智能信息事业群，与夸克团队合并。</description>
  </item>
  <item>
    <title>Kimi 月活突破3800万</title>
    <link>https://36kr.com/newsflashes/2994110001</link>
    <guid>https://36kr.com/newsflashes/2994110001</guid>
    <pubDate>Tue, 12 Nov 2024 09:15:00 +0800</pubDate>
    <description><![CDATA[月之暗面旗下 <a href="https://kimi.moonshot.cn">Kimi</a> 智能助手月活跃用户突破3800万。]]></description>
  </item>
  <item>
    <title>没有链接的条目</title>
    <guid isPermaLink="false">3012345678904</guid>
    <pubDate>Wed, 13 Nov 2024 19:00:00 +0800</pubDate>
  </item>
  <item>
    <title>日期写坏了的条目</title>
    <link>https://36kr.com/p/3012345678905</link>
    <pubDate>昨天下午</pubDate>
  </item>
</channel>
</rss>
"""

# TechCrunch-style Atom: HTML summary, content without summary, an entry without a title
ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-US">
  <title>TechCrunch</title>
  <id>https://techcrunch.com/feed/atom/</id>
  <link rel="self" href="https://techcrunch.com/feed/atom/"/>
  <updated>2024-11-14T02:00:00Z</updated>
  <entry>
    <title type="html">ByteDance poaches Alibaba Tongyi &lt;em&gt;Qwen&lt;/em&gt; lead</title>
    <link rel="alternate" type="text/html" href="https://techcrunch.com/2024/11/13/bytedance-poaches-alibaba-qwen-lead/"/>
    <id>https://techcrunch.com/?p=2857301</id>
    <published>2024-11-13T09:30:00Z</published>
    <updated>2024-11-13T10:05:00Z</updated>
    <author><name>Rita Liao</name></author>
    <summary type="html">&lt;p&gt;ByteDance has hired the tech lead of Alibaba&amp;#8217;s &lt;a href="https://qwenlm.github.io"&gt;Qwen&lt;/a&gt; team &amp;amp; several engineers.&lt;/p&gt;</summary>
  </entry>
  <entry>
    <title>Alibaba moves the Tongyi app into its Intelligent Information group</title>
    <link href="/2024/11/12/alibaba-tongyi-app-reorg/"/>
    <id>tag:techcrunch.com,2024:post-2856990</id>
    <updated>2024-11-12T07:00:00-08:00</updated>
    <content type="html">&lt;div&gt;&lt;p&gt;The app leaves Alibaba Cloud.&lt;/p&gt;&lt;p&gt;It joins Quark.&lt;/p&gt;&lt;/div&gt;</content>
  </entry>
  <entry>
    <id>https://techcrunch.com/?p=2857000</id>
    <link href="https://techcrunch.com/2024/11/13/untitled/"/>
    <updated>2024-11-13T00:00:00Z</updated>
  </entry>
</feed>
"""

RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"


def feeds_yaml(api, *paths: str, name: str = "news") -> str:
    feeds = "".join(f"        - url: {api.url_for(p)}\n" for p in paths)
    return f"""
connectors:
  - name: {name}
    kind: news_feed
    params:
      feeds:
{feeds}"""


def sample(registry, name, **labels) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def serve(api, path, body, content_type, **kw):
    api.expect_request(path).respond_with_data(body, content_type=content_type, **kw)


async def test_rss_and_atom_entries_become_news(api, data, sink, registry, make_runner):
    serve(api, RSS_PATH, RSS, RSS_TYPE)
    serve(api, ATOM_PATH, ATOM, ATOM_TYPE)
    async with make_runner(feeds_yaml(api, RSS_PATH, ATOM_PATH), sink) as r:
        [res] = await r.run_once()

    assert (res.outcome, res.published) == ("partial", 6)
    evs = {e.title: e for e in sink.events}
    assert all(isinstance(e, News) and e.source == "news_feed" for e in sink.events)
    assert list(evs) == [
        "字节跳动挖角阿里通义千问技术负责人",
        "前通义千问工程师卓畅陷竞业纠纷",
        "阿里将通义App并入智能信息事业群",
        "Kimi 月活突破3800万",
        "ByteDance poaches Alibaba Tongyi Qwen lead",
        "Alibaba moves the Tongyi app into its Intelligent Information group",
    ]

    hire = evs["字节跳动挖角阿里通义千问技术负责人"]
    # CDATA HTML: tags and the script dropped, &nbsp; / &amp; unescaped, whitespace collapsed
    assert hire.summary == (
        "据知情人士透露，字节跳动已挖来阿里通义千问的技术负责人 & 核心成员。 "
        "此前，字节自2023年中起陆续从通义、文心和飞桨招人。"
    )
    assert (hire.url, hire.lang) == ("https://36kr.com/p/3012345678901", "zh")
    assert hire.ts == utc(2024, 11, 13, 8, 1, 2)  # +08:00 pubDate, in UTC
    # a guid that is not a URI is qualified by the feed URL
    assert hire.event_id == event_id("news_feed", "guid", api.url_for(RSS_PATH), "3012345678901")
    assert hire.companies is None and hire.kind is None  # left to the stream's enrichment

    dispute = evs["前通义千问工程师卓畅陷竞业纠纷"]  # escaped HTML, double-escaped entities
    assert dispute.summary == "阿里巴巴与前员工卓畅的竞业协议纠纷 <一审> 开庭。"
    reorg = evs["阿里将通义App并入智能信息事业群"]  # no date: the channel's lastBuildDate
    assert reorg.ts == utc(2024, 11, 13, 12, 0, 0)
    kimi = evs["Kimi 月活突破3800万"]
    assert kimi.lang == "zh" and kimi.summary == "月之暗面旗下 Kimi 智能助手月活跃用户突破3800万。"
    assert kimi.event_id == event_id("news_feed", "guid", "https://36kr.com/newsflashes/2994110001")

    poach = evs["ByteDance poaches Alibaba Tongyi Qwen lead"]  # type="html" title stripped
    assert poach.summary == ("ByteDance has hired the tech lead of Alibaba\u2019s Qwen team & several engineers.")
    assert (poach.lang, poach.ts) == ("en", utc(2024, 11, 13, 9, 30))  # published, not updated
    assert poach.url == "https://techcrunch.com/2024/11/13/bytedance-poaches-alibaba-qwen-lead/"
    reorg_en = evs["Alibaba moves the Tongyi app into its Intelligent Information group"]
    assert reorg_en.summary == "The app leaves Alibaba Cloud. It joins Quark."  # from <content>
    # a relative link is resolved against the URL the feed was fetched from
    assert reorg_en.url == api.url_for("/2024/11/12/alibaba-tongyi-app-reorg/")
    assert (reorg_en.ts, reorg_en.lang) == (utc(2024, 11, 12, 15, 0), "en")

    # three bad entries skipped and counted: no link, garbage date, no title
    assert sample(registry, "appwatch_connector_errors_total", connector="news", reason="bad_entry") == 3
    assert any("entries[4]: no link" in e for e in res.errors)
    assert any("unparseable published date '昨天下午'" in e for e in res.errors)
    assert any("entries[2]: no title" in e for e in res.errors)
    assert sample(registry, "appwatch_connector_events_total", connector="news") == 6
    assert sample(registry, "appwatch_connector_polls_total", connector="news", outcome="partial") == 1
    [(req, _), _] = api.log
    assert "application/rss+xml" in req.headers["Accept"]


async def test_etag_304_on_the_second_poll(api, sink, registry, make_runner):
    api.expect_request(RSS_PATH, headers={"If-None-Match": '"kr-1"'}).respond_with_data(status=304)
    serve(api, RSS_PATH, RSS, RSS_TYPE, headers={"ETag": '"kr-1"'})
    async with make_runner(feeds_yaml(api, RSS_PATH), sink) as r:
        [first] = await r.run_once()
        [second] = await r.run_once()
    assert (first.published, second.published, second.duplicates) == (4, 0, 0)
    assert second.outcome == "ok"  # the bad entries were not fetched again either
    assert api.log[1][0].headers["If-None-Match"] == '"kr-1"' and api.log[1][1].status_code == 304
    assert sample(registry, "appwatch_connector_events_total", connector="news") == 4
    assert sample(registry, "appwatch_connector_errors_total", connector="news", reason="bad_entry") == 2


async def test_500_then_success(api, sink, sleeps, make_runner):
    api.expect_ordered_request(RSS_PATH).respond_with_data("<h1>500</h1>", status=500)
    api.expect_ordered_request(RSS_PATH).respond_with_data(RSS, content_type=RSS_TYPE)
    async with make_runner(feeds_yaml(api, RSS_PATH), sink) as r:
        [res] = await r.run_once()
    assert sleeps.calls == [0.5] and len(api.log) == 2
    assert res.published == 4


async def test_429_retry_after_is_honoured(api, sink, sleeps, registry, make_runner):
    api.expect_ordered_request(ATOM_PATH).respond_with_data(
        "Too Many Requests", status=429, headers={"Retry-After": "12"}
    )
    api.expect_ordered_request(ATOM_PATH).respond_with_data(ATOM, content_type=ATOM_TYPE)
    async with make_runner(feeds_yaml(api, ATOM_PATH), sink) as r:
        [res] = await r.run_once()
    assert sleeps.calls == [12.0]
    assert res.published == 2
    assert sample(registry, "appwatch_connector_errors_total", connector="news", reason="rate_limited") == 0


NOT_FEEDS = {
    "html_error_page": (
        (
            "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
            "<body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>"
        ),
        "text/html",
    ),
    "malformed_xml": ('<?xml version="1.0"?><error><code>500</code><message>internal', "text/xml"),
    "json": ('{"error": "feed disabled"}', "application/json"),
    "empty": ("", "application/rss+xml"),
    "a_file_name": ("/etc/hostname", "text/plain"),  # parsed as a body, never opened as a file
}


@pytest.mark.parametrize("case", list(NOT_FEEDS))
async def test_a_body_that_is_not_a_feed_is_counted_and_the_other_feed_still_yields(
    case, api, sink, registry, make_runner
):
    body, ctype = NOT_FEEDS[case]
    serve(api, "/broken/feed", body, ctype, headers={"ETag": '"bad"'})
    serve(api, ATOM_PATH, ATOM, ATOM_TYPE)
    async with make_runner(feeds_yaml(api, "/broken/feed", ATOM_PATH), sink) as r:
        [res] = await r.run_once()
    assert res.outcome == "partial"
    assert [e.lang for e in sink.events] == ["en", "en"]
    assert sample(registry, "appwatch_connector_errors_total", connector="news", reason="bad_feed") == 1
    [err] = [e for e in res.errors if e.startswith("bad_feed")]
    assert api.url_for("/broken/feed") in err and "not an RSS/Atom feed" in err


async def test_a_broken_feed_is_fetched_in_full_next_time(api, sink, registry, make_runner):
    page = NOT_FEEDS["html_error_page"][0]
    serve(api, "/broken/feed", page, "text/html", headers={"ETag": '"e"'})
    async with make_runner(feeds_yaml(api, "/broken/feed"), sink) as r:
        [first] = await r.run_once()
        [second] = await r.run_once()
    assert first.outcome == second.outcome == "partial"  # fetched, but nothing usable
    assert sample(registry, "appwatch_connector_errors_total", connector="news", reason="bad_feed") == 2
    assert "If-None-Match" not in api.log[1][0].headers  # the error page's ETag was not kept


async def test_lenient_xml_is_counted_and_its_entries_kept(api, sink, registry, make_runner):
    # an undeclared HTML entity makes the XML malformed; feedparser still reads the items
    body = RSS.replace("<title>Kimi 月活突破3800万</title>", "<title>Kimi&nbsp;月活突破3800万</title>")
    serve(api, RSS_PATH, body, RSS_TYPE)
    async with make_runner(feeds_yaml(api, RSS_PATH), sink) as r:
        [res] = await r.run_once()
    assert res.outcome == "partial"
    assert "Kimi 月活突破3800万" in [e.title for e in sink.events]
    assert sample(registry, "appwatch_connector_errors_total", connector="news", reason="bad_xml") == 1


async def test_feed_served_as_text_html_is_fine(api, sink, registry, make_runner):
    serve(api, ATOM_PATH, ATOM, "text/html; charset=utf-8")  # common misconfiguration
    async with make_runner(feeds_yaml(api, ATOM_PATH), sink) as r:
        [res] = await r.run_once()
    assert res.published == 2 and not any(e.startswith("bad_xml") for e in res.errors)


async def test_gb2312_feed_is_decoded(api, sink, make_runner):
    body = RSS.replace('encoding="UTF-8"', 'encoding="GB18030"').encode("gb18030")
    serve(api, RSS_PATH, body, "application/xml")  # no charset in the header: the prolog says
    async with make_runner(feeds_yaml(api, RSS_PATH), sink) as r:
        await r.run_once()
    assert sink.events[0].title == "字节跳动挖角阿里通义千问技术负责人"


async def test_restart_from_checkpoint_gives_no_duplicates(api, sink, tmp_path, make_runner):
    serve(api, RSS_PATH, RSS, RSS_TYPE)  # no ETag: the full feed every time
    serve(api, ATOM_PATH, ATOM, ATOM_TYPE)
    yaml_text = feeds_yaml(api, RSS_PATH, ATOM_PATH)
    async with make_runner(yaml_text, sink) as r:
        [first] = await r.run_once()
    ids = [e.event_id for e in sink.take()]
    assert first.published == 6 and len(set(ids)) == 6
    cp = json.loads((tmp_path / "state" / "news.json").read_text())
    assert set(cp["seen"]) == set(ids)

    registry2 = CollectorRegistry()  # a new process
    async with make_runner(yaml_text, sink, registry=registry2) as r2:
        [again] = await r2.run_once()
    assert (again.published, again.duplicates, sink.events) == (0, 6, [])
    assert registry2.get_sample_value("appwatch_connector_duplicates_total", {"connector": "news"}) == 6


async def test_lang_override_and_bare_urls(api, sink, make_runner):
    serve(api, RSS_PATH, RSS, RSS_TYPE)
    serve(api, ATOM_PATH, ATOM, ATOM_TYPE)
    yaml_text = f"""
connectors:
  - name: mixed
    kind: news_feed
    params:
      feeds:
        - {{url: "{api.url_for(RSS_PATH)}", name: 36kr, lang: ja}}
        - "{api.url_for(ATOM_PATH)}"
"""
    async with make_runner(yaml_text, sink) as r:
        [res] = await r.run_once()
    assert [e.lang for e in sink.events] == ["ja"] * 4 + ["en"] * 2
    assert any(e.startswith("bad_entry: 36kr: entries[4]") for e in res.errors)  # named


def test_html_to_text():
    assert html_to_text("<p>a&amp;b&nbsp;c</p><p>d<br/>e</p>") == "a&b c d e"
    assert html_to_text("<style>p{}</style>x <script>if (a < b) {}</script>y") == "x y"
    assert html_to_text("AT&T &lt;3 &#8220;Qwen&#8221;") == "AT&T <3 \u201cQwen\u201d"
    assert html_to_text("") == "" and html_to_text(None) == ""


@pytest.mark.parametrize(
    "text, lang",
    [
        ("字节跳动挖角阿里通义千问技术负责人", "zh"),
        ("Kimi 月活突破3800万", "zh"),
        ("OpenAI 发布 GPT-4o mini，Anthropic 推出 Claude 3.5 Sonnet", "zh"),
        ("ByteDance poaches Alibaba Tongyi Qwen lead", "en"),
        ("Alibaba moves the Tongyi (通义) app into its Intelligent Information group", "en"),
        ("3800", None),
    ],
)
def test_detect_lang(text, lang):
    assert detect_lang(text) == lang


async def test_http_get_bytes_is_conditional_and_keeps_the_body():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("If-None-Match") == '"kr-1"':
            return httpx.Response(304)
        return httpx.Response(200, content=RSS.encode(), headers={"Content-Type": RSS_TYPE, "ETag": '"kr-1"'})

    async with Http(transport=httpx.MockTransport(handler)) as http:
        first = await http.get_bytes("http://127.0.0.1:9/36kr/feed", accept="application/rss+xml")
        again = await http.get_bytes("http://127.0.0.1:9/36kr/feed", None, first.validators)
    assert (first.data, first.content_type, first.validators) == (RSS.encode(), RSS_TYPE, {"etag": '"kr-1"'})
    assert seen[0].headers["Accept"] == "application/rss+xml"
    assert again.not_modified and again.data is None and again.validators == {"etag": '"kr-1"'}
