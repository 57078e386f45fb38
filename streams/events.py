"""The event contract (v1): pydantic models, decoding and topic names.

Field names here are fixed by ``shared/design.md``; new optional fields may be
added, none renamed. Unknown extra fields are kept, so a newer producer's
events pass through an older worker unharmed.

Exceptions:
    InvalidEvent(ValueError) -- raised by ``decode``; ``.reason`` is a short,
        low-cardinality label (``field:error_type``) and ``str()`` is the
        human sentence naming the field.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

MAX_EVENT_BYTES = 64 * 1024

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Country = Annotated[str, Field(pattern=r"^[a-z]{2}$")]  # ISO alpha-2 or "ww"
Platform = Literal["ios", "android", "all"]
Metric = Literal[
    "downloads", "dau", "mau", "cumulative_users", "revenue", "rating_count", "job_postings"
]


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow", allow_inf_nan=False, frozen=True)

    event_id: Annotated[str, Field(min_length=1, max_length=200)]
    source: Annotated[str, Field(min_length=1, max_length=100)]
    ts: AwareDatetime

    def to_json(self) -> bytes:
        return self.__pydantic_serializer__.to_json(self, exclude_none=True)


class AppMetric(_Event):
    type: Literal["app.metric"]
    app_id: Slug
    app_name: str | None = None
    platform: Platform
    country: Country
    metric: Metric
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


NewsKind = Literal["hire", "departure", "dispute", "reorg", "funding", "launch", "other"]


class News(_Event):
    type: Literal["news"]
    url: Annotated[str, Field(min_length=1, max_length=2000)]
    title: Annotated[str, Field(min_length=1, max_length=1000)]
    summary: str | None = None
    lang: str | None = None
    companies: list[str] | None = None
    people: list[str] | None = None
    kind: NewsKind | None = None

    @property
    def key(self) -> str:
        return self.event_id


Event = Annotated[Union[AppMetric, AppRank, News], Field(discriminator="type")]
_adapter: TypeAdapter[Event] = TypeAdapter(Event)


class InvalidEvent(ValueError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _describe(exc: ValidationError) -> InvalidEvent:
    def field(err) -> str:
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            return "type"
        return ".".join(str(p) for p in err["loc"] if p not in _TAGS) or "event"

    errs = exc.errors(include_url=False)
    message = "; ".join(f"{field(e)}: {e['msg']}" for e in errs[:3])
    more = f" (+{len(errs) - 3} more)" if len(errs) > 3 else ""
    return InvalidEvent(f"{field(errs[0])}:{errs[0]['type']}", message + more)


_TAGS = ("app.metric", "app.rank", "news")


def validate(obj: Any) -> Event:
    """Validate a decoded JSON object against the contract."""
    if not isinstance(obj, dict):
        raise InvalidEvent("not_object", f"event must be a JSON object, got {type(obj).__name__}")
    try:
        return _adapter.validate_python(obj)
    except ValidationError as exc:
        raise _describe(exc) from None


def decode(raw: bytes | str) -> Event:
    """Decode one UTF-8 JSON event; raise InvalidEvent with a field-naming reason."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEvent("too_large", f"event is {len(raw)} bytes, limit {MAX_EVENT_BYTES}")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("json", f"invalid JSON: {exc}") from None
    return validate(obj)


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
    def outbox_done(self) -> str:
        """Internal, as many partitions as ``alerts``: "this notification went out"."""
        return f"{self.prefix}internal.outbox-done"

    @property
    def silences(self) -> str:
        """Compacted, one partition: every worker reads all of it."""
        return f"{self.prefix}silences"

    @property
    def events(self) -> tuple[str, str, str]:
        return (self.metrics, self.ranks, self.news)

    def for_event(self, ev: Event | dict) -> str:
        kind = ev.get("type") if isinstance(ev, dict) else ev.type
        return {"app.rank": self.ranks, "news": self.news}.get(kind, self.metrics)
