"""Hostile and valid event payloads for the fault tests, two ways.

* Hypothesis strategies (``valid_events()``, ``mutated_events()``, ``hostile_bytes()``):
  rich and shrinkable, but 15-25 ms an example on these 2 cores.
* ``Gen(random)``: the same space built from one seed with ``random.Random``, about
  0.1 ms an event, so that ten thousand hypothesis examples (one seed each) run in
  seconds. A failure reports the seed; ``Gen(random.Random(seed))`` replays it.

Both build contract events (v1, ``docs/contract.md``) as JSON-able dicts; a
mutation breaks exactly one field and says which.
"""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime, timedelta, timezone

import orjson
from hypothesis import strategies as st

KINDS = ["hire", "departure", "dispute", "reorg", "funding", "launch", "other"]
METRICS = ["downloads", "dau", "mau", "cumulative_users", "revenue", "rating_count", "job_postings"]
PLATFORMS = ["ios", "android", "all"]
CHARTS = ["top-free", "top-paid", "top-grossing"]
PERIODS = ["day", "month", "instant"]
REQUIRED = {
    "app.metric": ("event_id", "source", "ts", "type", "app_id", "platform", "country", "metric", "value", "period"),
    "app.rank": ("event_id", "source", "ts", "type", "app_id", "platform", "country", "chart", "rank"),
    "news": ("event_id", "source", "ts", "type", "url", "title"),
}
OPTIONAL = {
    "app.metric": ("app_name", "mode"),
    "app.rank": ("app_name", "category"),
    "news": ("summary", "lang", "companies", "people", "kind"),
}
NULLABLE = {"app_name", "summary", "lang", "companies", "people", "kind"}  # null means absent
KNOWN = {f for fs in (*REQUIRED.values(), *OPTIONAL.values()) for f in fs}
OFFSETS = [
    UTC,
    timezone(timedelta(hours=8)),
    timezone(timedelta(hours=-14)),
    timezone(timedelta(hours=14)),
    timezone(timedelta(hours=5, minutes=45)),
    timezone(timedelta(hours=-3, minutes=-30)),
]
# inside the contract's range (core.events.TS_MIN .. TS_MAX), a day's margin for offsets
TS_LO, TS_HI = datetime(1970, 1, 2), datetime(9998, 12, 30)
SAMPLES = [
    "豆包",
    "字节跳动挖角通义千问技术负责人",
    "Kimi 月之暗面",
    "通义App从阿里云并入阿里智能信息事业群",
    "\u202eevil",
    "a\nb",
    "tab\there",
    "\x00nul",
    "😀🇨🇳",
    "é\u0301",
    "\ufeffbom",
    "\\",
    '"',
    "</script>",
    "${jndi:ldap://x}",
    "{app_name}",
    "%s%n",
    "' OR 1=1 --",
]

# values wrong for a field whatever else the event holds: none validates
WRONG = {
    "event_id": [None, 1, [], {}, "", "x" * 201],
    "source": [None, 1.5, [], {}, "", "s" * 101],
    "ts": [
        None,
        "",
        "yesterday",
        "2024-11-14T00:00:00",
        "2024-13-01T00:00:00Z",
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00+14:00",
        "1969-07-20T20:17:00Z",
        [],
        {},
        "2024-11-14",
        1e20,
        -1,
        "２０２４-11-14T00:00:00Z",
        "2024-11-14T00:00:00+25:00",
    ],
    "type": [None, "", "app.chart", "APP.METRIC", "news ", 1, [], {"a": 1}, "豆包"],
    "app_id": [None, "", "Dou Bao", "豆包", "-x", "a" * 65, "doubao\n", 7, []],
    "platform": [None, "", "IOS", "web", 1, ["ios"]],
    "country": [None, "", "CN", "chn", "c1", "中国", 86, "cn\n"],
    "metric": [None, "", "likes", "Downloads", 1],
    "value": [None, -1, -1e-300, "", "abc", "1,000", [], {}, "NaN", "inf", "-Infinity", "1e400"],
    "period": [None, "", "week", "DAY", 1],
    "mode": [None, "", "sum", "TOTAL", 0],
    "chart": [None, "", "top", "TOP-FREE", 1],
    "rank": [None, 0, -1, 1.5, "", "first", [], 1e30, 1e19],
    "url": [None, "", 1, [], "u" * 2001],
    "title": [None, "", 1, [], "t" * 1001],
    "companies": ["ByteDance", 1, {"a": 1}, [1], ["ok", None], [[]]],
    "people": ["Zhuo Chang", 1, [2.5], ["ok", {}]],
    "kind": ["", "hiring", "HIRE", 1, []],
    "app_name": [1, [], {}, 2.5],
    "category": [1, [], {}],
    "summary": [1, [], {}],
    "lang": [1, [], {}],
}
RENAMES = {
    "event_id": "eventId",
    "ts": "timestamp",
    "type": "Type",
    "value": "val",
    "app_id": "appid",
    "rank": "position",
    "url": "link",
    "country": "country_code",
    "source": "src",
}

# bytes as hostile as a Kafka record gets: wrong top-level types, invalid UTF-8, BOMs,
# non-finite numbers, duplicate keys, deep nesting, JSON5/Python-isms
SNIPPETS = [
    b"",
    b" ",
    b"null",
    b"true",
    b"0",
    b"[]",
    b"{}",
    b'""',
    b"[1,2]",
    b'"{}"',
    b"\xef\xbb\xbf{}",
    b"\xff\xfe{\x00}\x00",
    b'{"type":"news"',
    b'{"a":NaN}',
    b'{"value":Infinity}',
    b'{"value":-Infinity}',
    b'{"value":1e400}',
    b'{"value":-1e400}',
    b"\xed\xa0\x80",
    b'{"type":"app.metric","type":"news"}',
    b'{"\\ud800":1}',
    b"[" * 2000 + b"]" * 2000,
    b'{"a":' * 1500 + b"1" + b"}" * 1500,
    b"\x00",
    b"\xc0\xaf",
    b"{'a': 1}",
    b"{a:1}",
    b'{"a":1,}',
    b"[1,]",
    b"01",
    b"1.",
    b".5",
    b"+1",
    b"0x10",
    b'"\t"',
    b"/* */{}",
    b"{}{}",
    # a valid news event with an extra field nested 300 deep (orjson re-serialises 254)
    b'{"event_id":"n","type":"news","source":"t","ts":"2024-11-13T10:00:00+08:00","url":"u",'
    b'"title":"t","x":' + b"[" * 300 + b"]" * 300 + b"}",
]


class Gen:
    """Events and hostile payloads from one ``random.Random``."""

    SLUG0 = string.ascii_lowercase + string.digits
    SLUG = SLUG0 + "_.-"

    def __init__(self, r: random.Random) -> None:
        self.r = r

    def text(self, lo: int = 0, hi: int = 20) -> str:
        r, n = self.r, self.r.randint(lo, hi)
        pick = r.random()
        if pick < 0.15 and lo <= 1:
            return r.choice(SAMPLES)
        if pick < 0.4:
            return "".join(chr(r.randint(0x4E00, 0x9FFF)) for _ in range(n))  # CJK
        if pick < 0.6:
            return "".join(r.choice(string.printable) for _ in range(n))
        out = []
        for _ in range(n):  # any code point but a lone surrogate
            c = r.choice((r.randint(0, 0x7F), r.randint(0x80, 0xFFFF), r.randint(0x10000, 0x10FFFF)))
            out.append(chr(c if not 0xD800 <= c <= 0xDFFF else 0xFFFD))
        return "".join(out)

    def slug(self) -> str:
        return self.r.choice(self.SLUG0) + "".join(self.r.choice(self.SLUG) for _ in range(self.r.randint(0, 63)))

    def ts(self) -> str:
        lo, hi = TS_LO.timestamp(), TS_HI.timestamp()
        t = self.r.choice([self.r.uniform(lo, hi), self.r.uniform(1.6e9, 1.8e9), lo, hi])
        d = datetime.fromtimestamp(t, UTC).replace(tzinfo=self.r.choice(OFFSETS))
        if self.r.random() < 0.5:
            d = d.replace(microsecond=0)
        return d.isoformat()

    def number(self) -> float | int:
        r = self.r
        return r.choice(
            [
                r.randint(0, 10**7),
                r.randint(0, 2**53),
                r.random() * 10 ** r.randint(-300, 308),
                0,
                0.0,
                5e-324,
                1.7976931348623157e308,
            ]
        )

    def json_value(self, depth: int = 0):
        r = self.r
        pick = r.randrange(8 if depth < 3 else 6)
        if pick == 6:
            return [self.json_value(depth + 1) for _ in range(r.randint(0, 3))]
        if pick == 7:
            return {self.text(0, 5): self.json_value(depth + 1) for _ in range(r.randint(0, 3))}
        return (
            None,
            r.random() < 0.5,
            r.randint(-(2**63), 2**64 - 1),
            r.uniform(-1e300, 1e300),
            self.text(),
            self.text(0, 3),
        )[pick]

    def event(self) -> dict:
        r = self.r
        kind = r.choice(list(REQUIRED))
        obj = {"event_id": self.text(1, 30), "source": self.text(1, 30), "ts": self.ts(), "type": kind}
        if kind in ("app.metric", "app.rank"):
            obj |= {
                "app_id": self.slug(),
                "platform": r.choice(PLATFORMS),
                "country": r.choice(string.ascii_lowercase) + r.choice(string.ascii_lowercase),
            }
        if kind == "app.metric":
            obj |= {"metric": r.choice(METRICS), "value": self.number(), "period": r.choice(PERIODS)}
            optional = {"app_name": self.text(), "mode": r.choice(["total", "delta"])}
        elif kind == "app.rank":
            obj |= {"chart": r.choice(CHARTS), "rank": r.choice([r.randint(1, 200), r.randint(1, 2**64 - 1)])}
            optional = {"app_name": self.text(), "category": self.text()}
        else:
            obj |= {"url": self.text(1, 200), "title": self.text(1, 100)}
            optional = {
                "summary": self.text(0, 200),
                "lang": self.text(0, 5),
                "kind": r.choice([*KINDS, None]),
                "companies": [self.text() for _ in range(r.randint(0, 4))],
                "people": [self.text() for _ in range(r.randint(0, 4))],
            }
        for key, value in optional.items():
            if r.random() < 0.5:
                obj[key] = None if key in NULLABLE and r.random() < 0.1 else value
        for _ in range(r.choice([0, 0, 1, 3])):  # unknown fields are kept
            key = self.text(0, 10)
            if key not in KNOWN:
                obj[key] = self.json_value()
        if r.random() < 0.3:  # fields in another order
            obj = dict(r.sample(list(obj.items()), len(obj)))
        return obj

    def mutated(self) -> tuple[dict, str]:
        """``(obj, field)``: a valid event with exactly ``field`` dropped, renamed or made wrong."""
        r = self.r
        obj = self.event()
        required = REQUIRED[obj["type"]]
        how = r.choice(["drop", "rename", "wrong", "wrong"])
        if how == "wrong":
            field = r.choice([f for f in WRONG if f in required or f in OPTIONAL[obj["type"]]])
            obj[field] = r.choice(WRONG[field])
            return obj, field
        field = r.choice(required)
        value = obj.pop(field)
        if how == "rename":
            obj[RENAMES.get(field, field.upper())] = value
        return obj, field

    def hostile(self) -> bytes | str:
        r = self.r
        pick = r.randrange(8)
        if pick == 0:
            return r.randbytes(r.randint(0, 300))
        if pick == 1:
            return r.choice(SNIPPETS)
        if pick == 2:  # text with lone surrogates, as str and as (invalid) UTF-8
            s = "".join(chr(r.choice((r.randint(0xD800, 0xDFFF), r.randint(0, 0x10FFFF)))) for _ in range(20))
            return s if r.random() < 0.5 else s.encode("utf-8", "surrogatepass")
        raw = orjson.dumps(self.event())
        if pick == 3:  # truncated
            return raw[: r.randint(0, len(raw) - 1)]
        if pick == 4:  # a few bytes overwritten
            i = r.randint(0, len(raw) - 1)
            return raw[:i] + r.randbytes(r.randint(1, 3)) + raw[i + 1 :]
        if pick == 5:  # a byte deleted or duplicated
            i = r.randint(0, len(raw) - 1)
            return raw[:i] + raw[i + 1 :] if r.random() < 0.5 else raw[:i] + raw[i : i + 1] * 2 + raw[i + 1 :]
        if pick == 6:  # valid JSON of any shape
            return orjson.dumps(self.json_value())
        obj, _ = self.mutated()
        return orjson.dumps(obj)


def seeds() -> st.SearchStrategy[Gen]:
    # one draw per example (st.randoms() would make every random call a hypothesis draw: slow)
    return st.integers(0, 2**64 - 1).map(lambda seed: Gen(random.Random(seed)))


# --------------------------------------------------------------------------- hypothesis strategies

chars = st.characters(exclude_categories=("Cs",))
cjk = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
text = st.one_of(st.text(chars, max_size=40), st.text(cjk, min_size=1, max_size=20), st.sampled_from(SAMPLES))


def nonempty(n: int):
    return st.one_of(st.text(chars, min_size=1, max_size=n), st.text(cjk, min_size=1, max_size=n))


slug = st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,63}", fullmatch=True)
country = st.from_regex(r"[a-z]{2}", fullmatch=True)
ts = st.builds(
    lambda d, tz: d.replace(tzinfo=tz).isoformat(),
    st.datetimes(min_value=TS_LO, max_value=TS_HI),
    st.sampled_from(OFFSETS),
)
number = st.floats(min_value=0, allow_nan=False, allow_infinity=False) | st.integers(0, 2**53)
json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False, allow_infinity=False), text
)
json_value = st.recursive(
    json_leaf, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(text, kids, max_size=4), max_leaves=12
)
extras = st.dictionaries(text.filter(lambda k: k not in KNOWN), json_value, max_size=3)


def _event(required: dict, optional: dict):
    common = dict(event_id=nonempty(200), source=nonempty(100), ts=ts)
    return st.builds(
        lambda a, b, c: {**c, **a, **b},
        st.fixed_dictionaries({**common, **required}),
        st.fixed_dictionaries({}, optional=optional),
        extras,
    )


metric_events = _event(
    dict(
        type=st.just("app.metric"),
        app_id=slug,
        platform=st.sampled_from(PLATFORMS),
        country=country,
        metric=st.sampled_from(METRICS),
        value=number,
        period=st.sampled_from(PERIODS),
    ),
    dict(app_name=text | st.none(), mode=st.sampled_from(["total", "delta"])),
)
rank_events = _event(
    dict(
        type=st.just("app.rank"),
        app_id=slug,
        platform=st.sampled_from(PLATFORMS),
        country=country,
        chart=st.sampled_from(CHARTS),
        rank=st.integers(1, 2**64 - 1),
    ),
    dict(app_name=text | st.none(), category=text),
)
news_events = _event(
    dict(type=st.just("news"), url=nonempty(2000), title=nonempty(1000)),
    dict(
        summary=text | st.none(),
        lang=text,
        companies=st.lists(text, max_size=4),
        people=st.lists(text, max_size=4),
        kind=st.sampled_from(KINDS) | st.none(),
    ),
)


def valid_events():
    return st.one_of(metric_events, rank_events, news_events)


@st.composite
def mutated_events(draw):
    """``(obj, field)``: a valid event with exactly ``field`` dropped, renamed or made wrong."""
    obj = draw(valid_events())
    required = REQUIRED[obj["type"]]
    how = draw(st.sampled_from(["drop", "rename", "wrong"]))
    if how == "wrong":
        field = draw(st.sampled_from(sorted(f for f in WRONG if f in required or f in OPTIONAL[obj["type"]])))
        obj[field] = draw(st.sampled_from(WRONG[field]))
        return obj, field
    field = draw(st.sampled_from(required))
    value = obj.pop(field)
    if how == "rename":
        obj[RENAMES.get(field, field.upper())] = value
    return obj, field


def hostile_bytes():
    return st.one_of(
        st.binary(max_size=300),
        st.sampled_from(SNIPPETS),
        st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.builds(lambda b, n: b[:n], valid_events().map(orjson.dumps), st.integers(0, 400)),
        st.builds(
            lambda b, i, x: b[:i] + x + b[i + 1 :],
            valid_events().map(orjson.dumps),
            st.integers(0, 300),
            st.binary(min_size=1, max_size=3),
        ),
        json_value.map(orjson.dumps),
    )


def within_bounds(call, error: type[Exception], *, seconds: float, megabytes: float) -> Exception:
    """``call()`` must raise ``error`` within ``seconds`` and ``megabytes`` (tracemalloc peak)."""
    import time
    import tracemalloc

    import pytest

    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        with pytest.raises(error) as info:
            call()
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < seconds, f"{elapsed:.2f}s"
    assert peak < megabytes * 2**20, f"peak {peak / 2**20:.1f} MB"
    return info.value
