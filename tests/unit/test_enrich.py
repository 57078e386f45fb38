"""News enrichment: a table of realistic headlines, matching rules, the alias table, properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.catalog import shipped
from core.events import News, validate
from core.yamlfile import ConfigError
from streams import enrich as E
from streams.enrich import COMPANIES, companies_in, enrich, kind_of, lang_of, people_in

A, B, BD, DS, MM, MS, OA, TC, ZP = (
    "Alibaba",
    "Baidu",
    "ByteDance",
    "DeepSeek",
    "MiniMax",
    "Moonshot AI",
    "OpenAI",
    "Tencent",
    "Zhipu",
)


def news(title: str, summary: str | None = None, **fields) -> News:
    obj = {
        "event_id": "n1",
        "type": "news",
        "source": "t",
        "ts": "2024-11-13T10:00:00+08:00",
        "url": "https://e.com/1",
        "title": title,
    }
    if summary is not None:
        obj["summary"] = summary
    return validate({**obj, **fields})


# (title, companies, people, kind)
ZH = [
    ("字节跳动挖角阿里通义千问技术负责人周畅", [A, BD], ["Zhou Chang"], "hire"),
    ("技术负责人周畅正式加盟字节跳动豆包大模型团队", [BD], ["Zhou Chang"], "hire"),
    ("2023年中以来，字节跳动陆续从通义、文心一言和飞桨团队挖人", [A, B, BD], [], "hire"),
    ("通义千问前核心成员投奔字节，阿里内部人才争夺战升级", [A, BD], [], "hire"),
    ("前通义千问工程师卓畅加盟字节后陷竞业纠纷", [A, BD], ["Zhuo Chang"], "dispute"),
    ("阿里起诉前员工卓畅违反竞业协议，卓畅已入职字节跳动", [A, BD], ["Zhuo Chang"], "dispute"),
    ("月之暗面创始人杨植麟回应仲裁案", [MS], ["Yang Zhilin"], "dispute"),
    ("通义App从阿里云划入阿里智能信息事业群", [A], [], "reorg"),
    ("阿里巴巴调整组织架构：通义App并入智能信息事业群，与夸克团队整合", [A], [], "reorg"),
    ("抖音集团架构调整，火山引擎独立运营", [BD], [], "reorg"),
    ("Kimi月活跃用户突破3800万，月之暗面跻身头部", [MS], [], "other"),
    ("豆包累计用户数突破1.6亿，日均新增下载约80万", [BD], [], "other"),
    ("百度文心一言App更名文小言", [B], [], "other"),
    ("字节跳动CEO梁汝波：豆包是公司最重要的AI产品", [BD], ["Liang Rubo"], "other"),
    ("月之暗面完成超10亿美元融资，阿里巴巴领投", [A, MS], [], "funding"),
    ("MiniMax完成6亿美元新一轮融资，估值达25亿美元", [MM], [], "funding"),
    ("智谱AI完成B+轮融资，投后估值超200亿元", [ZP], [], "funding"),
    ("深度求索发布DeepSeek-V2.5，合并对话与代码能力", [DS], [], "launch"),
    ("阿里云开源Qwen2.5系列模型，覆盖0.5B至72B", [A], [], "launch"),
    ("百度发布文心大模型4.0，李彦宏称其综合能力比肩GPT-4", [B, OA], ["Robin Li"], "launch"),
    ("腾讯混元大模型升级，元宝App上线深度思考功能", [TC], [], "launch"),
    ("MiniMax旗下海螺AI上线视频生成模型", [MM], [], "launch"),
    ("OpenAI发布GPT-4o，ChatGPT免费用户也可使用", [OA], [], "launch"),
    ("吴泳铭出任阿里云智能集团董事长兼CEO", [A], ["Eddie Wu"], "hire"),
    ("前百度飞桨研究员王伟加盟字节跳动Seed团队", [B, BD], ["Wang Wei"], "hire"),  # a Han name in pinyin
    ("阿里通义实验室研究员李明远离职", [A], ["Li Mingyuan"], "departure"),
    ("字节跳动否认挖角通义千问负责人的传闻", [A, BD], [], "denial"),
    # negatives
    ("阿里山日出观景台游客爆满", [], [], "other"),
    ("上海今日天气晴，气温回升", [], [], "other"),
    ("海螺水泥三季度净利润下降", [], [], "other"),
    ("快手发布可灵AI视频大模型", ["Kuaishou"], [], "launch"),
    ("工程师周末加班成常态，负责人表示将改善", [], [], "other"),
]

EN = [
    ("ByteDance hires core tech lead of Alibaba's Tongyi Qianwen", [A, BD], [], "hire"),
    (
        ("ByteDance has been poaching talent from Alibaba's Tongyi, Baidu's Wenxin and PaddlePaddle since mid-2023"),
        [A, B, BD],
        [],
        "hire",
    ),
    ("Tongyi lead Zhou Chang joins ByteDance", [A, BD], ["Zhou Chang"], "hire"),
    ("Former Baidu researcher Chen Xu joins Moonshot AI", [B, MS], ["Chen Xu"], "hire"),
    ("Former OpenAI Researcher Joins ByteDance's Seed Team", [BD, OA], [], "hire"),
    ("ByteDance appoints Wu Yonghui to lead Doubao foundation model research", [BD], ["Wu Yonghui"], "hire"),
    ("Non-compete dispute erupts over former Tongyi engineer Zhuo Chang", [A], ["Zhuo Chang"], "dispute"),
    (
        "Former Alibaba engineer Zhuo Chang sued over non-compete after joining ByteDance",
        [A, BD],
        ["Zhuo Chang"],
        "dispute",
    ),
    (
        "Moonshot AI co-founder Yang Zhilin faces arbitration claims from former investors",
        [MS],
        ["Yang Zhilin"],
        "dispute",
    ),
    ("Alibaba Qwen researcher Li Mingyuan resigns", [A], ["Li Mingyuan"], "departure"),
    ("Alibaba moves Tongyi app from Alibaba Cloud into its Intelligent Information Group", [A], [], "reorg"),
    ("Tencent restructures AI teams, moves Yuanbao into its CSIG group", [TC], [], "reorg"),
    ("Moonshot AI's Kimi reaches 38 million monthly active users", [MS], [], "other"),
    ("ByteDance's Doubao passes 160 million users, tops China's app charts", [BD], [], "other"),
    ("OpenAI CEO Sam Altman says ChatGPT now has 200 million weekly users", [OA], ["Sam Altman"], "other"),
    ("Baidu rebrands Ernie Bot app as Wenxiaoyan", [B], [], "other"),
    ("Alibaba joins the AI price war with 97% cut to Qwen-Long", [A], [], "other"),
    ("Quark app hits 100 million users as Alibaba bets on AI search", [A], [], "other"),
    ("Volcano Engine cuts Doubao model prices by 99%", [BD], [], "other"),
    ("Moonshot AI raises $1 billion in funding round led by Alibaba", [A, MS], [], "funding"),
    ("MiniMax valued at $2.5 billion after new Alibaba-led round", [A, MM], [], "funding"),
    ("Zhipu AI raises fresh funding from state-backed investors", [ZP], [], "funding"),
    ("DeepSeek releases DeepSeek-V2.5, merging chat and coder models", [DS], [], "launch"),
    ("Alibaba Cloud open-sources Qwen2.5 models, from 0.5B to 72B parameters", [A], [], "launch"),
    ("Baidu unveils ERNIE 4.0, says it rivals GPT-4", [B, OA], [], "launch"),
    ("Tencent launches Yuanbao AI assistant built on its Hunyuan model", [TC], [], "launch"),
    ("Baidu CTO Wang Haifeng unveils ERNIE 4.0 Turbo", [B], ["Wang Haifeng"], "launch"),
    ("ByteDance denies poaching Alibaba's Qwen team", [A, BD], [], "denial"),
    # negatives
    ("Red Hat releases Quarkus framework 3.15", [], [], "launch"),
    ("Physicists refine top quark mass measurement", [], [], "other"),
    ("Fed holds interest rates steady as inflation cools", [], [], "other"),
    ("Chess engines still use the minimax algorithm", [], [], "other"),
]


@pytest.mark.parametrize("title,companies,people,kind", ZH + EN, ids=[t[:40] for t, *_ in ZH + EN])
def test_headline(title, companies, people, kind):
    out = enrich(news(title))
    assert (out.companies, out.people, out.kind) == (companies, people, kind)
    assert out.lang == ("zh" if (title, companies, people, kind) in ZH else "en")
    assert (companies_in(title), people_in(title), kind_of(title), lang_of(title)) == (
        out.companies,
        out.people,
        out.kind,
        out.lang,
    )


def test_table_is_big_and_balanced():
    assert len(ZH) >= 20 and len(EN) >= 20 and len(ZH + EN) >= 40
    assert {k for *_, k in ZH + EN} == {*E.KINDS, "other"}


def test_summary_counts_and_title_and_summary_do_not_run_together():
    out = enrich(news("ByteDance hires from rival lab", "The engineer, Zhuo Chang, worked on Qwen."))
    assert out.companies == [A, BD] and out.people == ["Zhuo Chang"] and out.kind == "hire"
    assert enrich(news("前往阿", "里山")).companies == []
    assert enrich(news("Moonshot", "AI")).companies == [MS]  # still Moonshot, through "Moonshot"


# ---------------------------------------------------------------- matching rules


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Qwenly raises seed money", []),
        ("Qwen2.5-Coder tops the leaderboard", [A]),
        ("GLM-4-Plus and ChatGLM", [ZP]),
        ("用Kimi写论文", [MS]),
        ("KIMI and kimi and Kimi", [MS]),
        ("阿里巴巴", [A]),
        ("阿里山", []),
        ("阿里巴巴与四十大盗动画电影定档", []),
        ("穆罕默德·阿里", []),
        ("Quarkus 3.15 released", []),
        ("the quark model", []),
        ("Quark browser", [A]),
        ("MiniMax", [MM]),
        ("minimax", []),
        ("Ernie Els wins the Open", []),
        ("ERNIE Bot and Ernie bot", [B]),
        ("a moonshot project", []),
        ("Moonshot Factory at Alphabet", []),
        ("文心雕龙", []),
        ("文心一言", [B]),
        ("金元宝", []),
        ("腾讯元宝", [TC]),
        ("字节码和字节序", []),
        ("字节跳动", [BD]),
        ("ＯｐｅｎＡＩ发布新模型", [OA]),  # full-width Latin
        ("通义APP和智谱ai", [A, ZP]),  # ASCII case never matters in Han terms
        ("GPT-4o and GPT-4 and GPT-45", [OA]),
        ("TikTokers", []),
        ("ex-Alibaba staff", [A]),
        ("", []),
    ],
)
def test_companies_in(text, expected):
    assert companies_in(text) == expected


def test_every_alias_alone_names_its_company():
    for c in E._DEFAULT.table.companies:
        for alias in c.aliases:
            assert companies_in(alias) == [c.name], alias
            assert companies_in(f"据报道，{alias}。") == [c.name], alias
            assert companies_in(f"(report) {alias}, sources say") == [c.name], alias


def test_an_alias_maps_once_and_longest_wins():
    assert companies_in("阿里巴巴阿里云通义千问夸克") == [A]
    assert people_in("卓畅卓畅 Zhuo Chang") == ["Zhuo Chang"]


def test_canonical_names_match_the_catalog():
    catalog = shipped()
    assert set(catalog.companies().values()) <= set(COMPANIES)
    for app_id, app in catalog.apps.items():  # the catalog's own app names find their company
        for name in app.names.values():
            assert companies_in(name) == [app.company], (app_id, name)
    assert list(COMPANIES) == sorted(COMPANIES)


@pytest.mark.parametrize(
    "text,expected",
    [
        ("前通义工程师卓畅与技术负责人周畅先后加盟字节", ["Zhuo Chang", "Zhou Chang"]),
        ("Zhou Chang and Zhuo Chang", ["Zhou Chang", "Zhuo Chang"]),
        ("OpenAI CEO Sam Altman and 萨姆·奥尔特曼", ["Sam Altman"]),
        ("工程师王伟加入腾讯，研究员张小红离职", ["Wang Wei", "Zhang Xiaohong"]),
        ("创始人兼CEO杨植麟表示", ["Yang Zhilin"]),
        ("研究员林俊旸在社交媒体发文", ["Lin Junyang"]),
        ("former Alibaba engineer Zhuo Chang", ["Zhuo Chang"]),
        # precision: none of these is a person
        ("工程师周末加班", []),
        ("负责人表示将加快进度", []),
        ("高管离职潮", []),
        ("工程师团队扩招", []),
        ("Researcher Joins ByteDance Seed Team", []),
        ("ByteDance hires Alibaba's Qwen tech lead", []),
        ("Alibaba taps new head to lead Quark Search", []),
        ("Former Alibaba Engineer Says ByteDance Offered Double", []),
        ("Startup founder Alibaba Cloud", []),
    ],
)
def test_people_in(text, expected):
    assert people_in(text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("前通义工程师加盟字节后陷竞业纠纷", "dispute"),  # dispute beats hire
        ("卓畅离职后加盟字节跳动", "hire"),  # hire beats departure
        ("Zhou Chang leaves Alibaba", "departure"),
        ("Leaves fall in autumn", "other"),  # a weak word needs a person
        ("字节跳动加入大模型价格战", "other"),
        ("engineers who joined ByteDance", "hire"),
        ("阿里巴巴开源节流", "other"),
        ("线上线下融合", "other"),
        ("OpenAI raises concerns over safety", "other"),
        ("OpenAI raises $6.6 billion", "funding"),
        ("Series B round led by Tencent", "funding"),
        ("ByteDance moves into AI video", "other"),
        ("前阿里工程师陈某被判赔偿", "dispute"),
        ("Court orders former engineer to pay damages", "dispute"),
    ],
)
def test_kind_of(text, expected):
    assert kind_of(text) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Kimi月活突破3800万", "zh"),
        ("OpenAI发布GPT-4o", "zh"),
        ("Zhuo Chang (卓畅) joins ByteDance", "en"),
        ("豆包", "zh"),
        ("Doubao", "en"),
        ("12345", "en"),
        ("字节跳动 ByteDance", "zh"),
        ("阿里CEO吴泳铭", "zh"),  # acronyms say nothing of the language
        ("BYTEDANCE HIRES ALIBABA ENGINEER", "en"),
        ("Alibaba's Tongyi app (通义) moves to a new group", "en"),
    ],
)
def test_lang_of(text, expected):
    assert lang_of(text) == expected


def test_set_fields_are_kept_and_a_copy_is_returned():
    ev = news("字节跳动挖角通义千问技术负责人周畅", companies=[], people=["x"], kind="other", lang="en")
    out = enrich(ev)
    assert out == ev and out is not ev
    partial = enrich(news("字节跳动挖角通义千问技术负责人周畅", kind="launch"))
    assert partial.kind == "launch" and partial.companies == [A, BD] and partial.lang == "zh"
    assert partial.event_id == "n1" and partial.url == "https://e.com/1"


# ---------------------------------------------------------------- the alias table

GOOD = """
version: 1
companies:
  - {name: Acme, aliases: [Acme, 阿克米], exclude: [Acme Road]}
names: {zh_surnames: 王李}
"""


def test_a_minimal_table_loads(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text(GOOD, encoding="utf-8")
    e = E.load(path)
    assert e.companies == ("Acme",) and e.companies_in("阿克米 and acme") == ["Acme"]
    assert e.companies_in("Acme Road") == [] and e.kind_of("Acme launches") == "other"


@pytest.mark.parametrize(
    "text,needle",
    [
        ("version: 1\ncompanies: []\nnames: {zh_surnames: 王}\n", "companies"),
        (GOOD.replace("[Acme Road]", "[Road Runner]"), "contains none of the aliases"),
        (GOOD.replace("[Acme Road]", "[ACME]"), "is also an alias"),
        (GOOD.replace("names:", "  - {name: Other, aliases: [acme]}\nnames:", 1), "belongs to both"),
        (GOOD + "people:\n  - {name: Acme}\n", "belongs to both"),
        (GOOD + "kinds:\n  - {kind: hire, en_re: ['(a|b)']}\n", "capturing group"),
        (GOOD + "kinds:\n  - {kind: hire, en_re: ['(?:a']}\n", "bad regular expression"),
        (GOOD + "kinds:\n  - {kind: other}\n", "kinds"),
        (GOOD + "surprise: 1\n", "surprise"),
        (GOOD.replace("王李", "Wang"), "only Han characters"),
    ],
)
def test_a_bad_table_is_refused_with_a_reason(tmp_path, text, needle):
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as exc:
        E.load(path)
    assert needle in str(exc.value) and "bad.yaml:" in str(exc.value)


def test_shipped_kind_order_is_the_contract_order():
    assert E._DEFAULT.kind_order == E.KINDS


# ---------------------------------------------------------------- properties

ALIASES = [a for c in E._DEFAULT.table.companies for a in (*c.aliases, *c.exclude)]
FRAGMENTS = ALIASES + [
    "工程师",
    "负责人",
    "CEO ",
    " engineer ",
    "Zhuo Chang",
    "卓畅",
    "加盟",
    "joins",
    "竞业",
    "sues",
    " ",
    "，",
    "-",
    "2.5",
    "ly",
    "Wang Wei",
    "王伟",
    "离职",
]
texts = st.one_of(
    st.text(min_size=1, max_size=1000),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=5)), min_size=1, max_size=60)
    .map("".join)
    .filter(lambda s: 1 <= len(s) <= 1000),
)
kinds = st.sampled_from(["hire", "departure", "dispute", "reorg", "funding", "launch", "other"])


@settings(max_examples=300, deadline=None)
@given(title=texts, summary=st.none() | st.text(max_size=300))
def test_never_raises_is_idempotent_and_well_formed(title, summary):
    ev = news(title, summary)
    out = enrich(ev)
    assert enrich(out) == out
    assert out.companies == sorted(set(out.companies)) and set(out.companies) <= set(COMPANIES)
    assert len(out.people) == len(set(out.people)) and all(out.people)
    assert out.kind in {*E.KINDS, "other"} and out.lang in ("zh", "en")
    assert enrich(ev) == out  # deterministic


@settings(max_examples=200, deadline=None)
@given(
    title=texts,
    companies=st.none() | st.lists(st.text(max_size=10), max_size=3),
    people=st.none() | st.lists(st.text(max_size=10), max_size=3),
    kind=st.none() | kinds,
    lang=st.none() | st.sampled_from(["zh", "en", "ja"]),
)
def test_fields_already_set_are_kept(title, companies, people, kind, lang):
    given_ = {"companies": companies, "people": people, "kind": kind, "lang": lang}
    preset = {k: v for k, v in given_.items() if v is not None}
    out = enrich(news(title, **preset))
    for field, value in preset.items():
        assert getattr(out, field) == value
    assert None not in (out.companies, out.people, out.kind, out.lang)


@settings(max_examples=200, deadline=None)
@given(text=texts)
def test_companies_in_is_a_sorted_subset(text):
    found = companies_in(text)
    assert found == sorted(set(found)) and set(found) <= set(COMPANIES)
