"""The shipped example config end to end: `appwatch connect --once` (no --config, so
``connectors/example.yaml``) with every source's base URL pointed at one fake API on
127.0.0.1, publishing into the embedded broker; then a second run publishes nothing new.

The CLI runs on the real clock, so the payloads whose handling depends on the date (HN's
look-back, the estimates window, job-posting age) are built relative to now; the payload
builders themselves come from the per-source tests in this directory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer
from test_conn_estimates import ROWS as IOS_ROWS
from test_conn_hn import hit, page
from test_conn_jobs import GH_JOBS, gh_job
from test_conn_news import ATOM, ATOM_TYPE, RSS, RSS_TYPE
from test_conn_play import TITLE as DOUBAO_TITLE
from test_conn_play import detail_page
from werkzeug import Request, Response

from tests.conftest import wait_until

pytestmark = pytest.mark.integration

TOKEN = "st-example-e2e-token"
INSTANCES = [
    "apple-charts",
    "ios-ratings",
    "news-feeds",
    "hn-china-ai",
    "estimates-ios",
    "estimates-android",
    "jobs-bytedance",
    "jobs-openai",
    "play-installs",
]
# the catalog's iOS ids of [doubao, kimi, tongyi, wenxiaoyan, yuanbao, chatgpt], in config order
IOS_IDS = "6459478672,6474233312,6466733523,6446882473,6480446430,6448311069"
ANDROID_IDS = "com.larus.nova,com.moonshot.kimichat,com.aliyun.tongyi,com.openai.chatgpt"
LINE = re.compile(r"^(ok|partial|skipped|error|interrupted)\s+(\S+)\s+(\d+) published, (\d+) repeats$", re.MULTILINE)


def without(xml: str, tag: str, *markers: str) -> str:
    """``xml`` minus every ``<tag>...</tag>`` block containing one of ``markers``."""
    for block in re.findall(rf"\s*<{tag}>.*?</{tag}>", xml, flags=re.DOTALL):
        if any(m in block for m in markers):
            xml = xml.replace(block, "")
    return xml


# the news tests' feeds minus their deliberately broken entries (no link, bad date, no title)
RSS_OK = without(RSS, "item", "没有链接的条目", "昨天下午")
ATOM_OK = without(ATOM, "entry", "/untitled/")


def bad_request(why: str) -> Response:
    """A 400 (not retried): the instance fails and the CLI output says why."""
    return Response(f"fake API: {why}", status=400)


def hn_api(stories: dict[str, list[dict]]):
    """Algolia search_by_date: the stories newer than ``numericFilters``, newest first, paged."""

    def handle(request: Request) -> Response:
        a = request.args
        query, filt = a.get("query"), a.get("numericFilters", "")
        if query not in stories or a.get("tags") != "story" or not filt.startswith("created_at_i>"):
            return bad_request(f"unexpected search {dict(a)}")
        floor, per_page, n = int(filt.split(">")[1]), int(a["hitsPerPage"]), int(a["page"])
        hits = sorted((h for h in stories[query] if h["created_at_i"] > floor), key=lambda h: -h["created_at_i"])
        nb_pages = max(1, -(-len(hits) // per_page))
        body = page(query, hits[n * per_page : (n + 1) * per_page], n, nb_pages, per_page)
        return Response(json.dumps(body), content_type="application/json")

    return handle


def estimates_api(app_ids: str, countries: str, rows_for, asked: list):
    """Sensor Tower sales_report_estimates: ``rows_for(end_date)``, paged by limit/offset."""

    def handle(request: Request) -> Response:
        a = request.args
        if a.get("auth_token") != TOKEN:
            return Response("invalid auth_token", status=401)
        if (a.get("app_ids"), a.get("countries"), a.get("date_granularity")) != (app_ids, countries, "daily"):
            return bad_request(f"unexpected query {dict(a)}")
        start, end = date.fromisoformat(a["start_date"]), date.fromisoformat(a["end_date"])
        asked.append((start, end))
        offset, limit = int(a["offset"]), int(a["limit"])
        return Response(orjson.dumps(rows_for(end)[offset : offset + limit]), content_type="application/json")

    return handle


def ios_rows(end: date) -> list[dict]:
    """The estimates tests' rows (days 24 and 25 of a window ending on the 25th), moved to the
    last two days of the window asked for."""
    return [{**r, "d": f"{end - timedelta(days=25 - int(r['d'][8:10]))}T00:00:00Z"} for r in IOS_ROWS]


def android_rows(end: date) -> list[dict]:
    return [
        {"aid": "com.larus.nova", "c": "US", "d": f"{end}T00:00:00Z", "u": 61_000, "r": 45_600},
        {"aid": "com.openai.chatgpt", "c": "US", "d": f"{end}T00:00:00Z", "u": 1_250_000, "r": 98_765_400},
    ]


def serve_sources(api, data, now: datetime) -> tuple[dict[str, str], dict[str, list]]:
    """Every path the example config requests, on the one fake API; returns the base-URL
    variables and the estimates windows asked for (filled in as requests arrive)."""
    for country, chart, apps in (
        ("cn", "top-free", data.CN_TOP_FREE),
        ("cn", "top-paid", data.CN_TOP_PAID),
        ("us", "top-free", data.US_TOP_FREE),
        ("us", "top-paid", data.CN_TOP_PAID),
    ):
        api.expect_request(f"/apple/{country}/apps/{chart}/100/apps.json").respond_with_json(
            data.apple_feed(country, chart, apps)
        )

    lr = data.lookup_result
    api.expect_request("/itunes/lookup", query_string={"id": IOS_IDS, "country": "cn"}).respond_with_json(
        {
            "resultCount": 6,
            "results": [
                lr(6459478672, "豆包 - 字节跳动旗下 AI 智能助手", "com.bot.neotix.doubao", 1_283_441),
                lr(6474233312, "Kimi智能助手", "com.moonshot.kimichat", 530_112),
                lr(6466733523, "通义", "com.aliyun.tongyi", 88_020),
                lr(6446882473, "文小言", "com.baidu.newapp", 61_233),
                lr(6480446430, "腾讯元宝", "com.tencent.hunyuan", 402_118),
                lr(6448311069, "ChatGPT", "com.openai.chat", 95_870),
            ],
        }
    )
    api.expect_request("/itunes/lookup", query_string={"id": IOS_IDS, "country": "us"}).respond_with_json(
        {
            "resultCount": 3,
            "results": [
                lr(6459478672, "Doubao", "com.bot.neotix.doubao", None),  # no US ratings yet
                lr(6474233312, "Kimi", "com.moonshot.kimichat", 1_204),
                lr(6448311069, "ChatGPT", "com.openai.chat", 2_310_455),
            ],
        }
    )

    api.expect_request("/36kr/feed").respond_with_data(RSS_OK, content_type=RSS_TYPE)
    api.expect_request("/techcrunch/feed/").respond_with_data(ATOM_OK, content_type=ATOM_TYPE)

    t = int(now.timestamp())
    poach = hit(42135790, "ByteDance poaches Alibaba Tongyi Qwen lead", t - 3600)
    api.expect_request("/hn/api/v1/search_by_date").respond_with_handler(
        hn_api(
            {
                "ByteDance": [
                    poach,
                    hit(
                        42135650, "字节跳动挖角阿里通义千问技术负责人", t - 7200, url="https://36kr.com/p/3012345678901"
                    ),
                    hit(42135550, "ByteDance non-compete dispute with ex-Tongyi engineer", t - 10800),
                ],
                "Doubao": [
                    hit(
                        42135701,
                        "Ask HN: Is ByteDance's Doubao really at 160M users?",
                        t - 5400,
                        url=None,
                        story_text="<p>Numbers from &quot;QuestMobile&quot;</p>",
                    ),
                    hit(42135600, "ByteDance's Doubao tops China's App Store", t - 14400),
                ],
                "Qwen": [poach],  # the same story from a second query: one event
                "Kimi Moonshot": [
                    hit(42100002, "Kimi reaches 38M monthly users", t - 18000),
                    # beyond the first poll's 168 h look-back: never asked for
                    hit(42100001, "Moonshot AI raises $1B led by Alibaba", t - 200 * 3600),
                ],
            }
        )
    )

    asked = {"ios": [], "android": []}
    api.expect_request("/st/v1/ios/sales_report_estimates").respond_with_handler(
        estimates_api(IOS_IDS, "CN,US", ios_rows, asked["ios"])
    )
    api.expect_request("/st/v1/android/sales_report_estimates").respond_with_handler(
        estimates_api(ANDROID_IDS, "US", android_rows, asked["android"])
    )

    old = (now - timedelta(days=60)).isoformat(timespec="seconds")  # counted, not news
    fresh = (now - timedelta(hours=3)).isoformat(timespec="seconds")
    jobs = [{**j, "updated_at": old} for j in GH_JOBS] + [gh_job(4012360, "多模态大模型研究员", "Seed", updated=fresh)]
    api.expect_request("/gh/v1/boards/bytedance/jobs", query_string={"content": "true"}).respond_with_json(
        {"jobs": jobs, "meta": {"total": len(jobs)}}
    )
    created = int((now - timedelta(days=2)).timestamp() * 1000)
    api.expect_request("/lever/v0/postings/openai", query_string={"mode": "json"}).respond_with_json(
        [
            {
                "id": "8d2c1f7e-aaaa-4b1c-9e0f-000000000001",
                "text": "Research Engineer, LLM Post-Training",
                "categories": {"team": "Research", "location": "San Francisco", "commitment": "Full-time"},
                "hostedUrl": "https://jobs.lever.co/openai/8d2c1f7e",
                "createdAt": created,
            },
            {
                "id": "8d2c1f7e-aaaa-4b1c-9e0f-000000000002",
                "text": "GPU Kernel Engineer",
                "categories": {"team": "Scaling", "location": "San Francisco"},
                "hostedUrl": "https://jobs.lever.co/openai/8d2c1f7e-2",
                "createdAt": created,
            },
            {
                "id": "8d2c1f7e-aaaa-4b1c-9e0f-000000000003",
                "text": "Account Director, Japan",
                "categories": {"team": "Go To Market", "location": "Tokyo"},
                "hostedUrl": "https://jobs.lever.co/openai/8d2c1f7e-3",
                "createdAt": created,
            },
        ]
    )

    for package, title, installs, ratings in (
        ("com.larus.nova", DOUBAO_TITLE, 163_456_789, 1_234_567),
        ("com.moonshot.kimichat", "Kimi智能助手", 12_345_678, 345_678),
        ("com.openai.chatgpt", "ChatGPT", 512_000_000, 15_432_100),
    ):
        api.expect_request(
            "/play/store/apps/details", query_string={"id": package, "hl": "en", "gl": "us"}
        ).respond_with_data(detail_page(installs, ratings, title), content_type="text/html; charset=utf-8")

    def base(path: str) -> str:
        return api.url_for(path).rstrip("/")

    return {
        "APPWATCH_APPLE_RSS_URL": base("/apple"),
        "APPWATCH_ITUNES_URL": base("/itunes"),
        "APPWATCH_FEED_36KR_URL": api.url_for("/36kr/feed"),
        "APPWATCH_FEED_TECHCRUNCH_URL": api.url_for("/techcrunch/feed/"),
        "APPWATCH_HN_URL": base("/hn"),
        "APPWATCH_ESTIMATES_URL": base("/st"),
        "APPWATCH_GREENHOUSE_URL": base("/gh"),
        "APPWATCH_LEVER_URL": base("/lever"),
        "APPWATCH_PLAY_URL": base("/play"),
    }, asked


def connect(env: dict, cwd: Path) -> tuple[int, str, str, dict[str, tuple[str, int, int]]]:
    """One `appwatch connect --once` with the default config; (rc, out, err, {name: result})."""
    r = subprocess.run(
        [sys.executable, "-m", "appwatch", "connect", "--once", "--state-dir", str(cwd / "state")],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    out, err = r.stdout.decode(), r.stderr.decode()
    results = {m[2]: (m[1], int(m[3]), int(m[4])) for m in LINE.finditer(out)}
    return r.returncode, out, err, results


class Drain:
    """Reads the event topics up to a marker written to every partition after a run: the
    CLI has flushed (acks=all) before exiting, so whatever it published sits before the
    marker, and "nothing more" needs no quiet-period timeout."""

    def __init__(self, broker: str, topics) -> None:
        self.topics = topics
        self.producer = KafkaProducer(bootstrap_servers=broker, acks="all")
        self.consumer = KafkaConsumer(*topics.events, bootstrap_servers=broker, auto_offset_reset="earliest")
        self.runs = 0

    def __call__(self) -> dict[str, list[tuple[str, dict]]]:
        """{topic: [(key, event)]} published since the last call."""
        self.runs += 1
        marker = f"end-of-run-{self.runs}".encode()
        pending = {(t, p) for t in self.topics.events for p in self.producer.partitions_for(t)}
        for t, p in pending:
            self.producer.send(t, value=marker, partition=p)
        self.producer.flush()
        got: dict[str, list[tuple[str, dict]]] = {t: [] for t in self.topics.events}

        def read() -> bool:
            for msgs in self.consumer.poll(timeout_ms=200).values():
                for m in msgs:
                    if m.value == marker:
                        pending.discard((m.topic, m.partition))
                    else:
                        got[m.topic].append((m.key.decode(), orjson.loads(m.value)))
            return not pending

        wait_until(read, 30, f"the run-{self.runs} markers on every partition")
        return got

    def close(self) -> None:
        self.consumer.close()
        self.producer.close()


def test_example_config_once_publishes_every_source(broker, topics, api, data, tmp_path, request):
    now = datetime.now(UTC)
    urls, asked = serve_sources(api, data, now)
    env = {
        **os.environ,
        **urls,
        "APPWATCH_BROKER": f"kafka://{broker}",
        "APPWATCH_TOPIC_PREFIX": topics.prefix,
        "SENSORTOWER_TOKEN": TOKEN,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    assert not (tmp_path / "connectors.yaml").exists()

    rc, out, err, results = connect(env, tmp_path)
    report = f"exit {rc}\n--- stdout\n{out}\n--- stderr\n{err[-4000:]}"
    assert re.search(r"connectors from \S*connectors/example\.yaml", err), report
    assert rc == 0, report
    api.check()  # every request matched an expectation; no handler raised
    assert results == {
        "apple-charts": ("ok", 15, 0),  # 8 + 2 (cn) + 3 + 2 (us)
        "ios-ratings": ("ok", 8, 0),  # 6 cn + 2 us (doubao has no US ratings)
        "news-feeds": ("ok", 6, 0),  # 4 RSS + 2 Atom
        "hn-china-ai": ("ok", 6, 1),  # the Qwen query found the ByteDance story again
        "estimates-ios": ("ok", 10, 0),  # 5 rows x (downloads, revenue)
        "estimates-android": ("ok", 4, 0),  # 2 rows x (downloads, revenue)
        "jobs-bytedance": ("ok", 2, 0),  # the count + one fresh posting as news
        "jobs-openai": ("ok", 1, 0),
        "play-installs": ("ok", 3, 0),  # first reading: rating counts only
    }, report
    assert TOKEN not in out + err  # the token travels in the query; it is masked everywhere
    for os_ in ("ios", "android"):  # the 7 complete days before the poll day
        [(start, end)] = asked[os_]
        assert end - start == timedelta(days=6) and end < datetime.now(UTC).date(), asked

    drain = Drain(broker, topics)
    request.addfinalizer(drain.close)
    got = drain()
    expected = {topics.ranks: 15, topics.metrics: 27, topics.news: 13}
    ids = Counter(ev["event_id"] for v in got.values() for _, ev in v)
    seen = {t: dict(Counter(ev["source"] for _, ev in v)) for t, v in got.items()}
    assert {t: len(v) for t, v in got.items()} == expected, (  # exactly these, nothing more
        f"by source: {seen}; repeated ids: {[i for i, n in ids.items() if n > 1]}"
    )
    assert len(ids) == 55

    # ranks: the configured countries x charts
    ranks = {(key, ev["chart"]): ev for key, ev in got[topics.ranks]}
    assert {(k, c): ev["rank"] for (k, c), ev in ranks.items() if not k.startswith("ios-")} == {
        ("doubao|cn", "top-free"): 1,
        ("yuanbao|cn", "top-free"): 2,
        ("kimi|cn", "top-free"): 4,
        ("tongyi|cn", "top-free"): 6,
        ("wenxiaoyan|cn", "top-free"): 7,
        ("wps-office|cn", "top-free"): 8,
        ("procreate-pocket|cn", "top-paid"): 1,
        ("chatgpt|cn", "top-paid"): 2,
        ("chatgpt|us", "top-free"): 1,
        ("threads-an-instagram-app|us", "top-free"): 2,
        ("temu-shop-like-a-billionaire|us", "top-free"): 3,
        ("procreate-pocket|us", "top-paid"): 1,
        ("chatgpt|us", "top-paid"): 2,
    }
    assert ranks[("ios-1142110895|cn", "top-free")]["rank"] == 5
    doubao = ranks[("doubao|cn", "top-free")]
    assert (doubao["app_name"], doubao["platform"], doubao["source"], doubao["ts"]) == (
        "豆包 - 字节跳动旗下 AI 智能助手",
        "ios",
        "apple_charts",
        "2024-11-26T04:33:35Z",
    )

    # metrics: rating counts, estimates, job postings, play ratings
    metrics = [(ev["source"], key, ev["metric"], ev["platform"], ev["value"], ev) for key, ev in got[topics.metrics]]
    assert Counter((s, m) for s, _, m, _, _, _ in metrics) == {
        ("itunes_lookup", "rating_count"): 8,
        ("download_estimates", "downloads"): 7,
        ("download_estimates", "revenue"): 7,
        ("greenhouse", "job_postings"): 1,
        ("lever", "job_postings"): 1,
        ("google_play", "rating_count"): 3,
    }
    assert {k: v for s, k, m, p, v, _ in metrics if s == "itunes_lookup"} == {
        "doubao|cn": 1_283_441,
        "kimi|cn": 530_112,
        "tongyi|cn": 88_020,
        "wenxiaoyan|cn": 61_233,
        "yuanbao|cn": 402_118,
        "chatgpt|cn": 95_870,
        "kimi|us": 1_204,
        "chatgpt|us": 2_310_455,
    }
    end = asked["ios"][0][1]
    estimates = {(p, k, m, ev["ts"][:10]): v for s, k, m, p, v, ev in metrics if s == "download_estimates"}
    assert estimates[("ios", "doubao|cn", "downloads", str(end - timedelta(days=1)))] == 853_545
    assert estimates[("ios", "doubao|cn", "revenue", str(end - timedelta(days=1)))] == 13_225.67
    assert estimates[("ios", "doubao|cn", "downloads", str(end))] == 838_011
    assert estimates[("ios", "kimi|cn", "downloads", str(end))] == 108_520
    assert estimates[("ios", "doubao|us", "revenue", str(end))] == 0
    assert estimates[("android", "doubao|us", "downloads", str(end))] == 61_000
    assert estimates[("android", "chatgpt|us", "revenue", str(end))] == 987_654.0
    assert {(ev["period"], ev["mode"]) for s, *_, ev in metrics if s == "download_estimates"} == {("day", "total")}
    assert {(s, k): v for s, k, m, p, v, _ in metrics if m == "job_postings"} == {
        ("greenhouse", "doubao|ww"): 7,
        ("lever", "chatgpt|ww"): 2,
    }
    assert {k: v for s, k, m, p, v, _ in metrics if s == "google_play"} == {
        "doubao|ww": 1_234_567,
        "kimi|ww": 345_678,
        "chatgpt|ww": 15_432_100,
    }
    assert not [m for s, _, m, _, _, _ in metrics if s == "google_play" and m == "downloads"]

    # news: the feeds (Chinese and English), HN, and the fresh posting as a hire
    news = {(ev["source"], ev["title"]): ev for _, ev in got[topics.news]}
    assert len(news) == 13
    assert Counter(src for src, _ in news) == {"news_feed": 6, "hn_search": 6, "greenhouse": 1}
    assert {t for (src, t), ev in news.items() if src == "news_feed" and ev["lang"] == "zh"} == {
        "字节跳动挖角阿里通义千问技术负责人",
        "前通义千问工程师卓畅陷竞业纠纷",
        "阿里将通义App并入智能信息事业群",
        "Kimi 月活突破3800万",
    }
    kr = news[("news_feed", "字节跳动挖角阿里通义千问技术负责人")]
    assert (kr["url"], kr["ts"]) == ("https://36kr.com/p/3012345678901", "2024-11-13T08:01:02Z")
    tc = news[("news_feed", "Alibaba moves the Tongyi app into its Intelligent Information group")]
    assert tc["lang"] == "en" and tc["url"] == api.url_for("/2024/11/12/alibaba-tongyi-app-reorg/")
    # the same story on HN and in the feeds: different sources, different events
    hn = {t: ev for (src, t), ev in news.items() if src == "hn_search"}
    assert hn["字节跳动挖角阿里通义千问技术负责人"]["lang"] == "zh"
    assert hn["字节跳动挖角阿里通义千问技术负责人"]["event_id"] != kr["event_id"]
    assert (
        hn["Ask HN: Is ByteDance's Doubao really at 160M users?"]["url"]
        == "https://news.ycombinator.com/item?id=42135701"
    )
    assert "Moonshot AI raises $1B led by Alibaba" not in hn  # older than the look-back
    hire = news[("greenhouse", "ByteDance is hiring: 多模态大模型研究员")]
    assert (hire["kind"], hire["companies"], hire["lang"]) == ("hire", ["ByteDance"], "zh")
    assert {key for key, _ in got[topics.news]} == {ev["event_id"] for ev in news.values()}

    # a second identical run: every id is stable within the day, so nothing is published again
    rc2, out2, err2, again = connect(env, tmp_path)
    if datetime.now(UTC).date() != now.date():  # straddled midnight UTC: day-keyed ids changed, as designed
        drain()  # what the new day published; a third run is within one day
        day = datetime.now(UTC).date()
        rc2, out2, err2, again = connect(env, tmp_path)
        assert datetime.now(UTC).date() == day
    assert rc2 == 0, f"exit {rc2}\n{out2}\n{err2[-4000:]}"
    assert again == {
        "apple-charts": ("ok", 0, 15),
        "ios-ratings": ("ok", 0, 8),
        "news-feeds": ("ok", 0, 6),
        "hn-china-ai": ("ok", 0, 0),  # asks only for stories newer than the checkpoint: none
        "estimates-ios": ("ok", 0, 10),
        "estimates-android": ("ok", 0, 4),
        "jobs-bytedance": ("ok", 0, 1),  # the same count today; the posting was announced
        "jobs-openai": ("ok", 0, 1),
        "play-installs": ("ok", 0, 3),  # installs unchanged: no delta; same rating counts
    }, out2
    assert drain() == {t: [] for t in topics.events}  # nothing new on any topic
    assert sorted(p.name for p in (tmp_path / "state").glob("*.json")) == sorted(f"{n}.json" for n in INSTANCES)
    api.check()


def test_example_config_without_vendor_tokens_skips_those_sources_and_exits_0(broker, topics, api, data, tmp_path):
    """A new user has no Sensor Tower token: the two estimates instances are skipped, each
    with one warning that names the variable, and the run still succeeds."""
    urls, _ = serve_sources(api, data, datetime.now(UTC))
    env = {k: v for k, v in os.environ.items() if k != "SENSORTOWER_TOKEN"}
    env |= {
        **urls,
        "APPWATCH_BROKER": f"kafka://{broker}",
        "APPWATCH_TOPIC_PREFIX": topics.prefix,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    rc, out, err, results = connect(env, tmp_path)
    assert rc == 0, f"{out}\n{err[-3000:]}"
    assert {n: r[0] for n, r in results.items()} == {
        **{n: "ok" for n in INSTANCES},
        "estimates-ios": "skipped",
        "estimates-android": "skipped",
    }, out
    warnings = [line for line in err.splitlines() if "SENSORTOWER_TOKEN is not set" in line]
    assert len(warnings) == 2 and all("skipped" in w for w in warnings), err
