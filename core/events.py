"""The event contract (v1): pydantic models, decoding and topic names.

Field names here are fixed by ``docs/contract.md``; new optional fields may be
added, none renamed. Unknown extra fields are kept, so a newer producer's
events pass through an older worker unharmed.

Two decoders, one contract:
    decode(raw)       -- pydantic: every event type, and the error that names the field;
    decode_fast(raw)  -- the detect stage's and backtest's path: an ``app.metric`` record
                         straight into a ``MetricEvent`` struct (msgspec, about 1 µs); anything
                         it does not take for certain goes through ``decode``, so the two
                         accept the same records with the same values (a property test).

Exceptions:
    InvalidEvent(ValueError) -- raised by ``decode`` and ``decode_fast``; ``.reason`` is a short,
        low-cardinality label (``field:error_type``) and ``str()`` is the
        human sentence naming the field.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any, Literal

import msgspec
import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

MAX_EVENT_BYTES = 64 * 1024
# ``ts`` bounds: every consumer converts ``ts`` to rule time zones and steps days back
# and forth from it; near datetime's years 1 and 9999 that overflows (an event with
# ts 9999-12-31 crashed the detect agent). Nothing this contract describes is outside.
TS_MIN = datetime(1970, 1, 1, tzinfo=UTC)
TS_MAX = datetime(9999, 1, 1, tzinfo=UTC)
# Nesting of a decoded event (the object itself is level 1). orjson parses 1024 levels
# but serialises only 254: a deeper event was accepted, then crashed the worker when it
# was wrapped and re-serialised for the control topic. Events are flat; 32 is plenty.
MAX_DEPTH = 32
MAX_MESSAGE = 300  # characters of one error in an InvalidEvent message (logs, DLQ)

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Country = Annotated[str, Field(pattern=r"^[a-z]{2}$")]  # ISO alpha-2 or "ww"
Platform = Literal["ios", "android", "all"]
MetricName = Literal["downloads", "dau", "mau", "cumulative_users", "revenue", "rating_count", "job_postings"]


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False, frozen=True)

    event_id: Annotated[str, Field(min_length=1, max_length=200)]
    source: Annotated[str, Field(min_length=1, max_length=100)]
    ts: AwareDatetime

    @field_validator("ts")
    @classmethod
    def _ts_in_range(cls, v: datetime) -> datetime:
        try:
            inside = TS_MIN <= v < TS_MAX
        except OverflowError:
            inside = False
        if not inside:
            raise ValueError(f"must be from {TS_MIN:%Y-%m-%d} to before {TS_MAX:%Y-%m-%d} (UTC)")
        return v

    def to_json(self) -> bytes:
        return self.__pydantic_serializer__.to_json(self, exclude_none=True)

    @cached_property
    def epoch(self) -> float:
        """``ts`` in unix seconds."""
        return self.ts.timestamp()


class AppMetric(_Event):
    type: Literal["app.metric"]
    app_id: Slug
    app_name: str | None = None
    platform: Platform
    country: Country
    metric: MetricName
    value: Annotated[float, Field(ge=0)]
    period: Literal["day", "month", "instant"]
    mode: Literal["total", "delta"] = "total"

    @property
    def key(self) -> str:
        return f"{self.app_id}|{self.country}"


class AppRank(_Event):
    type: Literal["app.rank"]
    app_id: Slug
    app_name: str | None = None
    platform: Platform
    country: Country
    chart: Literal["top-free", "top-paid", "top-grossing"]
    category: str = "all"
    rank: Annotated[int, Field(ge=1)]

    @property
    def key(self) -> str:
        return f"{self.app_id}|{self.country}"


NewsKind = Literal["hire", "departure", "dispute", "reorg", "funding", "denial", "launch", "other"]


class News(_Event):
    type: Literal["news"]
    url: Annotated[str, Field(min_length=1, max_length=2000)]
    title: Annotated[str, Field(min_length=1, max_length=1000)]
    summary: str | None = None
    lang: str | None = None
    companies: list[str] | None = None
    people: list[str] | None = None
    kind: NewsKind | None = None
    # the roles of a talent move or org change (streams/news), all optional
    from_company: str | None = None
    to_company: str | None = None
    person: str | None = None
    role: str | None = None
    confidence: Annotated[float, Field(ge=0, le=1)] | None = None

    @property
    def key(self) -> str:
        return self.event_id


Event = Annotated[AppMetric | AppRank | News, Field(discriminator="type")]
_adapter: TypeAdapter[Event] = TypeAdapter(Event)


class InvalidEvent(ValueError):
    """``reason``: a metric label (no list indexes, no input); ``field``: the full path
    (``companies.3``); ``str()``: one printable line naming the field."""

    def __init__(self, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field or reason.split(":")[0]


_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _printable(text: str, limit: int = MAX_MESSAGE) -> str:
    """Input echoed in pydantic messages (e.g. a ``type`` tag) must not forge log lines
    or blow up a log or DLQ record: escape control characters, cap the length."""
    text = _UNPRINTABLE.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)
    return text if len(text) <= limit else text[:limit] + "..."


def _describe(exc: ValidationError) -> InvalidEvent:
    def field(err, indexes: bool = True) -> str:
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            return "type"
        return ".".join(str(p) for p in err["loc"] if p not in _TAGS and (indexes or not isinstance(p, int))) or "event"

    errs = exc.errors(include_url=False)
    message = "; ".join(f"{field(e)}: {_printable(e['msg'])}" for e in errs[:3])
    more = f" (+{len(errs) - 3} more)" if len(errs) > 3 else ""
    # the reason is a metric label: without list indexes, or a hostile producer could
    # mint one time series per index ("companies.0", "companies.1", ...)
    return InvalidEvent(f"{field(errs[0], indexes=False)}:{errs[0]['type']}", message + more, field=field(errs[0]))


_TAGS = ("app.metric", "app.rank", "news")


def _too_deep(obj: Any, limit: int = MAX_DEPTH) -> bool:
    stack = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def validate(obj: Any) -> Event:
    """Validate a decoded JSON object against the contract."""
    if not isinstance(obj, dict):
        raise InvalidEvent("not_object", f"event must be a JSON object, got {type(obj).__name__}")
    if _too_deep(obj):
        raise InvalidEvent("too_deep", f"event is nested deeper than {MAX_DEPTH} levels")
    try:
        return _adapter.validate_python(obj)
    except ValidationError as exc:
        raise _describe(exc) from None


def decode(raw: bytes | str | None) -> Event:
    """Decode one UTF-8 JSON event; raise InvalidEvent with a field-naming reason."""
    if raw is None:  # a Kafka record with a null value (tombstone): no JSON document
        raise InvalidEvent("json", "invalid JSON: the record has no value (null)")
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent("too_large", f"event is {len(raw)} bytes, limit {MAX_EVENT_BYTES}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("json", f"invalid JSON: {_printable(str(exc))}") from None
    return validate(obj)


# -- the fast path -------------------------------------------------------------------

# What both parsers read the same way: RFC 3339 with seconds, at most 6 fraction digits
# and an explicit offset, years 1971-9997 (inside TS_MIN..TS_MAX whatever the offset).
# Anything else (a space for T, nanoseconds, unix seconds that pydantic's lax mode
# takes, the edges of the range) goes the slow way.
_TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|[+-]\d\d:\d\d)")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_COUNTRY = re.compile(r"[a-z]{2}")
MEMO = 65_536  # strings each memo keeps (then it starts again)


class MetricEvent(msgspec.Struct, forbid_unknown_fields=True):
    """An ``app.metric`` event as the detect stage reads it: the contract's fields and
    checks (``AppMetric``). ``decode_fast`` replaces the text of ``ts`` with its datetime
    and fills ``epoch``. A record with fields the contract does not name takes the slow
    path: msgspec would skip them unread, where orjson refuses what they may hold
    (invalid UTF-8, a number out of range)."""

    type: Literal["app.metric"]
    event_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    source: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    ts: str
    app_id: str
    platform: Platform
    country: str
    metric: MetricName
    value: Annotated[float, msgspec.Meta(ge=0)]
    period: Literal["day", "month", "instant"]
    app_name: str | None = None
    mode: Literal["total", "delta"] = "total"
    epoch: float = 0.0  # ``ts`` in unix seconds


_fast = msgspec.json.Decoder(MetricEvent)
_times: dict[str, tuple[datetime, float] | None] = {}
_slugs: dict[str, bool] = {}
_countries: dict[str, bool] = {}


def _memo(memo: dict, key: str, compute):
    got = memo.get(key, memo)
    if got is memo:
        if len(memo) >= MEMO:
            memo.clear()
        got = memo[key] = compute(key)
    return got


def _time(text: str) -> tuple[datetime, float] | None:
    if _TS.fullmatch(text) is None or not "1971" <= text[:4] <= "9997":
        return None
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        return None
    return ts, ts.timestamp()


def decode_fast(raw: bytes | None) -> Event | MetricEvent:
    """``decode`` for the hot path: a valid ``app.metric`` record as a ``MetricEvent``
    (about 1 µs: the checks of repeated strings are memoised), any other record as
    ``decode`` gives it; raises InvalidEvent as ``decode`` does."""
    # more brackets than MAX_DEPTH might nest too deep: decode measures it
    if raw is None or len(raw) > MAX_EVENT_BYTES or raw.count(b"{") + raw.count(b"[") > MAX_DEPTH:
        return decode(raw)
    try:
        ev = _fast.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return decode(raw)
    when = _memo(_times, ev.ts, _time)
    if (
        when is None
        or not _memo(_slugs, ev.app_id, lambda s: _SLUG.fullmatch(s) is not None)
        or not _memo(_countries, ev.country, lambda s: _COUNTRY.fullmatch(s) is not None)
    ):
        return decode(raw)
    ev.ts, ev.epoch = when
    return ev


def event_id(source: str, *parts: object) -> str:
    """Deterministic id: the same fact from the same source gives the same id."""
    h = hashlib.sha256("\x1f".join([source, *map(str, parts)]).encode()).hexdigest()
    return f"{source}:{h[:24]}"


@dataclass(frozen=True)
class Topics:
    prefix: str = "appwatch."

    @property
    def metrics(self) -> str:
        return f"{self.prefix}events.metrics"

    @property
    def ranks(self) -> str:
        return f"{self.prefix}events.ranks"

    @property
    def news(self) -> str:
        return f"{self.prefix}events.news"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}dlq"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}alerts"

    @property
    def control(self) -> str:
        """Internal, one partition: ranks, news, heartbeats and alerts meet here."""
        return f"{self.prefix}internal.control"

    @property
    def notifications_dlq(self) -> str:
        """Notifications that failed for good (4xx, 410), with the response."""
        return f"{self.prefix}notifications.dlq"

    @property
    def groups(self) -> str:
        """Internal, as many partitions as ``alerts``, keyed by group key: one owner per group."""
        return f"{self.prefix}internal.groups"

    @property
    def firing(self) -> str:
        """Internal, compacted, one partition: the firing alerts that may inhibit (every worker reads all)."""
        return f"{self.prefix}internal.firing"

    @property
    def silences(self) -> str:
        """Compacted, one partition: every worker reads all of it."""
        return f"{self.prefix}silences"

    @property
    def connectors_status(self) -> str:
        """Compacted, one partition, keyed by instance name: each connector's last poll."""
        return f"{self.prefix}connectors.status"

    @property
    def events(self) -> tuple[str, str, str]:
        return (self.metrics, self.ranks, self.news)

    def for_event(self, ev: Event | dict) -> str:
        kind = ev.get("type") if isinstance(ev, dict) else ev.type
        return {"app.rank": self.ranks, "news": self.news}.get(kind, self.metrics)
