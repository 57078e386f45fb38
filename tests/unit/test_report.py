"""The backtest HTML report: self-contained, escaped, one chart per fired series."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape

from core.alert import Alert
from core.events import validate
from streams import report
from streams.backtest import Result
from streams.rules import RuleSet, load

SHANGHAI = ZoneInfo("Asia/Shanghai")
DISPUTE = "前通义千问工程师卓畅陷竞业纠纷，阿里申请仲裁"
REORG = "通义App从阿里云并入阿里智能信息事业群"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


# -- helpers -------------------------------------------------------------------------


class Page(HTMLParser):
    """Collects tags and attributes and checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.doctype = ""
        self.style = ""
        self._in_style = False

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_style = tag == "style"
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self._in_style = False
        if tag in VOID:
            self.problems.append(f"end tag for void element {tag}")
        elif not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()

    def handle_data(self, data):
        if self._in_style:
            self.style += data


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    p.close()
    assert p.doctype.lower() == "doctype html"
    assert not p.problems, p.problems[:5]
    assert not p.stack, f"unclosed: {p.stack}"
    try:  # a real HTML5 parser as well, when it is installed
        import html5lib
    except ImportError:
        pass
    else:
        html5lib.HTMLParser(strict=True).parse(page)
    return p


def assert_self_contained(page: str) -> None:
    p = parse(page)
    assert "<script" not in page.lower()
    for tag, attrs in p.tags:
        assert tag not in (
            "script",
            "link",
            "img",
            "iframe",
            "object",
            "embed",
            "image",
            "use",
            "video",
            "audio",
            "source",
        ), tag
        for name, value in attrs.items():
            assert name not in ("src", "srcset", "xlink:href", "style", "background"), (tag, name)
            assert not name.startswith("on"), (tag, name)  # no event handlers
            if name == "href":
                assert tag == "a", tag
                assert value.startswith(("#", "https://", "http://")), value
            elif value and "http" in value.lower():
                # the CSP meta tag names no URL either; any other URL would be a resource load
                raise AssertionError((tag, name, value))
    css = p.style.lower()
    assert "url(" not in css and "@import" not in css and "http" not in css
    assert '<meta charset="utf-8">' in page.split("<title>")[0]


def alert(**kw) -> Alert:
    base = dict(
        alert_id="x",
        rule="download-spike",
        kind="spike",
        severity="warning",
        labels={"app_id": "doubao", "platform": "all", "country": "cn", "metric": "downloads"},
        event_ts="2024-11-14T00:00:00+08:00",
        summary="s",
    )
    return Alert(**{**base, **kw})


def metric(day: str, value: float, mode: str = "total", hour: str = "00:00", app: str = "doubao"):
    return validate(
        dict(
            event_id=f"m-{app}-{day}-{hour}-{mode}-{value}",
            type="app.metric",
            source="t",
            ts=f"{day}T{hour}:00+08:00",
            app_id=app,
            app_name="Doubao 豆包",
            platform="all",
            country="cn",
            metric="downloads",
            value=value,
            period="day",
            mode=mode,
        )
    )


def series_figures(page: str) -> list[str]:
    return re.findall(r'<figure class="card series"[^>]*data-series="([^"]*)"', page)


def figure_html(page: str, contains: str) -> str:
    for fig in re.findall(r"<figure.*?</figure>", page, re.S):
        if contains in fig:
            return fig
    raise AssertionError(f"no figure containing {contains!r}")


# -- the seed scenario ------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed():
    from connectors import catalog, demo
    from streams import backtest

    lines = [e.to_json() for e in demo.events()]
    lines += [raw for _, raw in demo.malformed()]  # so that "invalid lines" is not zero
    ruleset = load()
    result = backtest.run(lines, ruleset, catalog.shipped().companies())
    return result, ruleset, report.render(result, ruleset, title="Seed <scenario> & co")


def expected_series(alerts) -> set[tuple]:
    """What should get a chart, computed from the alerts alone."""
    out = set()
    for a in alerts:
        lab = a.labels
        if a.kind == "rank":
            out.add(("rank", lab["app_id"], lab["platform"], lab["country"], lab["chart"]))
        elif a.kind in ("spike", "change", "threshold", "milestone"):
            out.add((a.kind in ("spike", "change"), lab["app_id"], lab["platform"], lab["country"], lab["metric"]))
    return out


def test_seed_scenario_fires_what_the_report_shows(seed):
    result, _, _ = seed
    rules = {a.rule for a in result.alerts}
    assert {"download-spike", "rank-number-one", "talent-move", "org-change"} <= rules
    assert len(result.errors) == 5


def test_one_chart_per_fired_series(seed):
    result, _, page = seed
    figures = series_figures(page)
    want = expected_series(result.alerts)
    assert len(figures) == len(want) >= 3
    assert len(set(figures)) == len(figures)
    for a in result.alerts:
        if a.kind in ("spike", "rank", "milestone"):
            assert any(
                a.labels["app_id"] in f and (a.labels.get("metric") or a.labels["chart"]) in f for f in figures
            ), a


def test_every_series_alert_has_a_marker_linked_to_its_row(seed):
    result, _, page = seed
    charted = [a for a in result.alerts if a.kind not in ("news", "deadman")]
    assert page.count('class="alert-marker') == len(charted) >= 4
    for href in re.findall(r'<a href="(#alert-\d+)" class="alert-marker', page):
        assert f'<tr id="{href[1:]}"' in page
    spike = figure_html(page, "download-spike")
    assert spike.count('class="alert-marker') == sum(a.rule == "download-spike" for a in result.alerts)
    assert "2.28M · 3.0×" in spike  # the 2024-11-14 spike, labelled with its ratio


def test_spike_chart_has_baseline_band_and_fire_line(seed):
    _, _, page = seed
    spike = figure_html(page, "download-spike")
    assert 'class="baseline"' in spike and 'class="threshold"' in spike
    assert '<polygon class="band"' in spike
    assert "2× baseline" in spike and "the same weekday over 4 weeks" in spike
    # readable axis numbers, dates on the x axis
    ticks = re.findall(r'<text class="tick"[^>]*>([^<]+)</text>', spike)
    assert "1M" in ticks and "2M" in ticks and "0" in ticks
    assert any(re.fullmatch(r"(Oct|Nov) \d+", t) for t in ticks)


def test_rank_chart_puts_number_one_at_the_top(seed):
    _, _, page = seed
    rank = figure_html(page, "rank-number-one")
    ys = {
        t: float(y)
        for y, t in re.findall(
            r'<text class="tick" x="[\d.]+" y="([\d.]+)" '
            r'text-anchor="end">(#\d+)</text>',
            rank,
        )
    }
    assert ys["#1"] < ys[max(ys, key=lambda t: int(t[1:]))]
    assert "#1 (was #2)" in rank


def test_spike_chart_draws_the_engine_s_days_baseline_and_fire_line(seed):
    """The chart shows what the spike rule's window held (the backtest's trace of
    ``Engine.explain``): the baseline of each spike day is the alert's baseline."""
    result, ruleset, page = seed
    rule = next(r for r in ruleset.rules if r.name == "download-spike")
    spikes = [a for a in result.alerts if a.rule == "download-spike"]
    days = result.trace.days[("download-spike", "doubao|all|cn|downloads")]
    assert len(days) == 61  # 60 days of history and the live day
    spike = figure_html(page, "download-spike")
    for a in spikes:
        view = days[date.fromisoformat(a.window_start[:10]).toordinal()]
        assert view.baseline == pytest.approx(a.baseline)
        assert view.fire_at == pytest.approx(rule.params.ratio * a.baseline)
        assert view.total >= a.value  # the live day kept growing after the alert
        tip = (
            f"{a.window_start[:10]}: {view.total:,.0f} · baseline {report.human(a.baseline)} · "
            f"fires at {report.human(view.fire_at)}"
        )
        assert f"<title>{tip}</title>" in spike
        fired = result.trace.fired[a.alert_id]  # the day as it was when the alert fired
        assert fired.total == a.value and fired.ratio == pytest.approx(a.value / a.baseline)
    assert "1.66M · 2.0× by 19:30" in spike  # the live day fired part-way through


def test_header_totals(seed):
    result, _, page = seed
    header = page.split("</header>")[0]
    assert f"{len(result.events):,}" in header
    assert re.search(r"Invalid lines</div><div class=\"value\">5<", header)
    assert f">{len(result.alerts)}<" in header
    assert "2024-10-01<" in header and "2024-11-30<" in header  # the time range
    by_rule = page.split('id="by-rule"')[1].split("</section>")[0]
    assert re.search(r"download-spike</td><td>spike</td>.*?<td class=\"num total\">2</td>", by_rule)
    assert 'id="errors"' in page and "invalid JSON" in page


def test_summaries_are_escaped_and_news_linked(seed):
    result, _, page = seed
    for a in result.alerts:
        assert escape(a.summary) in page
    assert "Alibaba&#39;s Tongyi" in page  # an apostrophe from a title, escaped
    assert "Seed &lt;scenario&gt; &amp; co" in page
    assert DISPUTE in page and REORG in page
    news = page.split('id="news"')[1]
    assert (
        f'href="https://example.com/news/zhuo-chang-dispute" rel="noopener noreferrer" '
        f'target="_blank">{DISPUTE}</a>' in news
    )
    # context news under the app alerts
    alerts_table = page.split('id="alerts"')[1].split('id="news"')[0]
    assert "https://example.com/news/tongyi-lead-bytedance" in alerts_table


def test_page_is_self_contained_html5(seed):
    _, _, page = seed
    assert_self_contained(page)
    assert '"Noto Sans CJK SC"' in page and '"PingFang SC"' in page and '"Microsoft YaHei"' in page
    assert '<meta name="viewport"' in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


# -- hand-built results ---------------------------------------------------------------------


RULES = RuleSet.model_validate(
    {
        "rules": [
            {
                "name": "download-spike",
                "kind": "spike",
                "match": {"type": "app.metric", "metric": "downloads"},
                "params": {"ratio": 2.0, "baseline_days": 7, "min_history": 5, "min_baseline": 1000},
            },
            {"name": "rank-top3", "kind": "rank", "params": {"entered_top": 3}, "severity": "critical"},
            {"name": "talent", "kind": "news_match", "params": {"kinds": ["hire"]}},
        ]
    }
)


def spike_rule(tz: str = "Asia/Shanghai", **params) -> RuleSet:
    return RuleSet.model_validate(
        {
            "rules": [
                {
                    "name": "download-spike",
                    "kind": "spike",
                    "timezone": tz,
                    "match": {"type": "app.metric", "metric": "downloads"},
                    "params": {"ratio": 2.0, "baseline_days": 7, "min_history": 5, "min_baseline": 1000, **params},
                }
            ]
        }
    )


def charted_days(events, rules: RuleSet) -> dict[date, tuple]:
    """(total, baseline, fire line) per day of doubao's downloads, as the chart gets them."""
    from streams import backtest

    result = backtest.run([e.to_json() for e in events], rules)
    days = result.trace.days[("download-spike", "doubao|all|cn|downloads")]
    return {date.fromordinal(d): (v.total, v.baseline, v.fire_at) for d, v in days.items()}


def test_daily_totals_sum_deltas_and_keep_the_last_total_in_the_rule_timezone():
    evs = [
        metric("2024-11-01", 100),
        metric("2024-11-01", 300, hour="12:00"),  # total: last wins
        metric("2024-11-02", 10, "delta"),
        metric("2024-11-02", 15, "delta", hour="23:30"),
    ]
    got = charted_days(evs, spike_rule())
    assert {d: v[0] for d, v in got.items()} == {date(2024, 11, 1): 300, date(2024, 11, 2): 25}
    # in UTC, 2024-11-02 00:00+08:00 belongs to 2024-11-01: added to that day's last total
    utc = charted_days(evs, spike_rule("UTC"))
    assert {d: v[0] for d, v in utc.items()} == {date(2024, 10, 31): 100, date(2024, 11, 1): 310, date(2024, 11, 2): 15}


def test_spike_band_needs_min_history_and_min_baseline():
    evs = [metric(f"2024-11-{d:02d}", 1000.0 * d) for d in range(1, 9)]
    got = charted_days(evs, spike_rule())
    assert got[date(2024, 11, 5)][1:] == (None, None)  # 4 days of history < min_history
    assert got[date(2024, 11, 6)] == (6000, 3000, 6000)  # median of days 1..5, x2: fires
    low = charted_days([metric(f"2024-11-{d:02d}", 10.0) for d in range(1, 9)], spike_rule())
    assert low[date(2024, 11, 8)] == (10.0, None, None)  # baseline below min_baseline: none, no fire line


@pytest.mark.parametrize(
    "v,text",
    [
        (0, "0"),
        (999, "999"),
        (1500, "1.5k"),
        (800_000, "800k"),
        (812_345, "812k"),
        (2_400_000, "2.4M"),
        (2_281_348, "2.28M"),
        (999_999, "1M"),
        (160e6, "160M"),
        (1.2e9, "1.2B"),
        (None, "—"),
    ],
)
def test_human_numbers(v, text):
    assert report.human(v) == text


def test_hostile_text_is_escaped_and_bad_urls_are_not_linked():
    evil = "<script>alert(1)</script>\"'&"
    news = validate(
        dict(
            event_id="n1",
            type="news",
            source="t",
            ts="2024-11-13T10:00:00+08:00",
            url="javascript:alert(1)",
            title=f"{DISPUTE} {evil}",
            kind="hire",
        )
    )
    result = Result(
        events=[metric("2024-11-01", 5), news],
        errors=[(3, f"bad {evil}")],
        alerts=[
            alert(
                rule="talent",
                kind="news",
                summary=f"talent: {evil}",
                labels={"kind": "hire", "companies": evil, "people": ""},
                context=[
                    {
                        "event_id": "n1",
                        "ts": news.ts.isoformat(),
                        "title": news.title,
                        "url": news.url,
                        "kind": "hire",
                        "companies": [evil],
                        "people": [],
                    }
                ],
            ),
            alert(
                summary=f"spike {evil}",
                value=10.0,
                baseline=5.0,
                window_start="2024-11-01T00:00:00+08:00",
                labels={"app_id": "doubao", "platform": "all", "country": "cn", "metric": "downloads", "team": evil},
            ),
        ],
    )
    page = report.render(result, RULES, title=evil)
    assert_self_contained(page)
    assert "<script>" not in page
    assert "javascript:" not in page  # neither linked nor shown
    assert escape(f"{DISPUTE} {evil}") in page  # shown as text, not as a link
    assert escape(f"talent: {evil}") in page and escape(f"spike {evil}") in page
    assert escape(f"bad {evil}") in page


def test_rank_alerts_group_by_chart_and_unknown_rules_still_render():
    ranks = [
        validate(
            dict(
                event_id=f"r{d}{a}",
                type="app.rank",
                source="t",
                ts=f"2024-11-{d:02d}T09:00:00+08:00",
                app_id=a,
                platform="ios",
                country="cn",
                chart="top-free",
                rank=r,
            )
        )
        for d, (a, r) in enumerate([("kimi", 5), ("kimi", 4), ("kimi", 2)], 1)
    ]
    labels = {"app_id": "kimi", "platform": "ios", "country": "cn", "chart": "top-free", "category": "all"}
    result = Result(
        events=ranks,
        alerts=[
            alert(
                rule="rank-top3",
                kind="rank",
                severity="critical",
                labels=labels,
                value=2.0,
                baseline=4.0,
                event_ts="2024-11-03T09:00:00+08:00",
                summary="kimi entered the top 3",
            ),
            alert(
                rule="gone-rule",
                kind="rank",
                labels=labels,
                value=2.0,
                baseline=4.0,
                event_ts="2024-11-03T09:00:00+08:00",
                summary="from another rules file",
            ),
            alert(
                rule="source-quiet",
                kind="deadman",
                labels={"source": "hn"},
                value=40.0,
                event_ts="2024-11-03T09:00:00+08:00",
                summary="no event from hn for 40h",
            ),
        ],
    )
    page = report.render(result, RULES)
    assert_self_contained(page)
    assert len(series_figures(page)) == 1  # both rank alerts share one chart
    assert page.count('class="alert-marker') == 2
    assert "top 3" in page  # the rule's target line
    assert "gone-rule" in page and "(not in the rules)" in page
    assert "no event from hn for 40h" in page and "40.0 h" in page


def test_empty_result_renders():
    page = report.render(Result(), RULES)
    assert_self_contained(page)
    assert "No series alert fired" in page and "no valid events" in page
    assert series_figures(page) == []


def test_charts_are_capped_and_the_rest_stay_in_the_table(monkeypatch):
    monkeypatch.setattr(report, "MAX_CHARTS", 2)
    apps = ["a1", "a2", "a3"]
    evs = [metric(f"2024-11-{d:02d}", 1000.0 * d, app=a) for a in apps for d in range(1, 4)]
    result = Result(
        events=evs,
        alerts=[
            alert(
                summary=f"spike on {a}",
                value=3000.0,
                baseline=1000.0,
                window_start="2024-11-03T00:00:00+08:00",
                event_ts="2024-11-03T00:00:00+08:00",
                labels={"app_id": a, "platform": "all", "country": "cn", "metric": "downloads"},
            )
            for a in apps
        ],
    )
    page = report.render(result, RULES)
    assert_self_contained(page)
    assert len(series_figures(page)) == 2
    assert "1 more series fired" in page and "spike on a3" in page
    for anchor in re.findall(r'<a href="#(series-[^"]+)"', page):  # no dangling links
        assert f'id="{anchor}"' in page
