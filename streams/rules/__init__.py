"""The rules file: pydantic models for every rule kind, matchers, and the default pack.

    rules:
      - name: download-spike
        kind: spike                  # threshold | spike | change | rank | milestone | deadman | news_match
        match: {type: app.metric, matchers: ['metric="downloads"', 'country=~"cn|us"']}
        params: {ratio: 2.0}
        timezone: Asia/Shanghai
        severity: warning
        labels: {team: market}
        summary: "{app_name} downloads {value:,.0f}"

``match`` also takes plain ``field: value`` pairs as equality matchers.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path
from string import Formatter
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from core import markets, yamlfile
from core.calendar import Day as SpecialDay
from core.matchers import Matcher, Matchers, check_regex
from streams.detectors.change import ChangeParams
from streams.detectors.deadman import DeadmanParams
from streams.detectors.milestone import MilestoneParams
from streams.detectors.news_match import NewsMatchParams
from streams.detectors.rank import RankParams
from streams.detectors.spike import SpikeParams
from streams.detectors.threshold import ThresholdParams

DEFAULT_PACK = "default.yaml"
_zone = cache(ZoneInfo)
EventType = Literal["app.metric", "app.rank", "news"]

SERIES_FIELDS = ("app_id", "app_name", "platform", "country", "metric", "value")  # of a series' alerts
# every field a summary template may use (each kind fills those that apply)
SUMMARY_FIELDS = dict(
    rule="r",
    severity="warning",
    app_id="doubao",
    app_name="Doubao",
    platform="all",
    country="cn",
    metric="downloads",
    value=2.0,
    baseline=1.0,
    ratio=2.0,
    zscore=3.0,
    change=50.0,
    day="2024-11-14",
    baseline_days=7,
    method="the 7-day median",
    rank=1,
    previous=2,
    chart="top-free",
    category="all",
    milestone=1e8,
    source="demo",
    silent_hours=36.0,
    title="t",
    url="u",
    kind="hire",
    companies="ByteDance",
    people="",
    threshold=1.0,
)


def label(ev: Any, name: str) -> str:
    v = getattr(ev, name, None)
    if isinstance(v, list):
        return ",".join(sorted(map(str, v)))
    return "" if v is None else str(v)


class Match(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: EventType | None = None
    matchers: Matchers = []

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        v = dict(v)
        parsed = list(v.pop("matchers", []))
        for key in [k for k in v if k != "type"]:
            value = v.pop(key)
            if not isinstance(value, (str, int, float, bool)):  # str() of a list/alias could be huge
                raise ValueError(
                    f"{key}: a shorthand matcher takes one value, not a {type(value).__name__}; "
                    f"use matchers: ['{key}=~\"a|b\"'] for several"
                )
            parsed.append(Matcher(name=str(key), op="=", value=str(value)))
        return {**v, "matchers": parsed}

    def matches(self, ev: Any) -> bool:
        if self.type and ev.type != self.type:
            return False
        return all(m.matches(label(ev, m.name)) for m in self.matchers)


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    event_type: ClassVar[str | None] = "app.metric"
    default_summary: ClassVar[str] = "{rule}"
    summary_fields: ClassVar[frozenset[str]] = frozenset()

    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    match: Match = Match()
    timezone: str | None = None  # None: the zone of the event's country (core/markets.yaml)
    severity: Literal["info", "warning", "critical"] = "warning"
    labels: dict[str, str] = {}
    summary: str | None = None

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return v if v is None else markets.zone(v)

    @field_validator("summary")
    @classmethod
    def _template(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                v.format_map(SUMMARY_FIELDS)
            except (KeyError, ValueError, IndexError, AttributeError) as exc:
                raise ValueError(f"bad summary template: {exc!r}; fields: {', '.join(SUMMARY_FIELDS)}") from None
        return v

    @model_validator(mode="after")
    def _type(self) -> _Rule:
        if self.match.type and self.event_type and self.match.type != self.event_type:
            raise ValueError(f"a {self.kind} rule matches {self.event_type} events, not {self.match.type}")
        return self

    @model_validator(mode="after")
    def _summary_fields(self) -> _Rule:
        """A summary names only fields its kind fills (else it would show a placeholder)."""
        allowed = {"rule", "severity", *self.summary_fields, *self.extra_fields()}
        used = {re.split(r"[.\[]", name)[0] for _, name, _, _ in Formatter().parse(self.summary or "") if name}
        unknown = sorted(used - allowed)
        if unknown:
            raise ValueError(
                f"summary: a {self.kind} rule does not fill {', '.join(unknown)}; it fills {', '.join(sorted(allowed))}"
            )
        return self

    def extra_fields(self) -> set[str]:
        """Fields a rule of this kind fills beyond ``summary_fields`` (news: its labels)."""
        return set()

    def tz(self, country: str) -> ZoneInfo:
        """The zone this rule cuts ``country``'s days in: its ``timezone``, else the market's."""
        return markets.tz(country) if self.timezone is None else _zone(self.timezone)

    def applies(self, ev: Any) -> bool:
        return (self.event_type is None or ev.type == self.event_type) and self.match.matches(ev)

    def render(self, fields: dict) -> str:
        return (self.summary or self.default_summary).format_map({**SUMMARY_FIELDS, **fields})


class SpikeRule(_Rule):
    kind: Literal["spike"]
    summary_fields: ClassVar[frozenset[str]] = frozenset(
        {*SERIES_FIELDS, "baseline", "day", "ratio", "zscore", "baseline_days", "method"}
    )
    params: SpikeParams = SpikeParams()
    default_summary: ClassVar[str] = (
        "{app_name} {metric} {value:,.0f} on {day} ({country}/{platform}): "
        "{ratio:.1f}x the {baseline_days}-day baseline of {baseline:,.0f}"
    )


class ThresholdRule(_Rule):
    kind: Literal["threshold"]
    summary_fields: ClassVar[frozenset[str]] = frozenset({*SERIES_FIELDS, "threshold"})
    params: ThresholdParams
    default_summary: ClassVar[str] = (
        "{app_name} {metric} is {value:,.0f} ({country}/{platform}), threshold {threshold:,.0f}"
    )


class ChangeRule(_Rule):
    kind: Literal["change"]
    summary_fields: ClassVar[frozenset[str]] = frozenset({*SERIES_FIELDS, "baseline", "day", "change", "ratio"})
    params: ChangeParams
    default_summary: ClassVar[str] = (
        "{app_name} {metric} {value:,.0f} on {day} ({country}/{platform}): {change:+.0f}% against {baseline:,.0f}"
    )


class RankRule(_Rule):
    kind: Literal["rank"]
    summary_fields: ClassVar[frozenset[str]] = frozenset(
        {"app_id", "app_name", "platform", "country", "chart", "category", "rank", "previous"}
    )
    params: RankParams
    event_type: ClassVar[str] = "app.rank"
    default_summary: ClassVar[str] = "{app_name} is #{rank} on {chart} ({country}/{platform}), was {previous}"


class MilestoneRule(_Rule):
    kind: Literal["milestone"]
    summary_fields: ClassVar[frozenset[str]] = frozenset({*SERIES_FIELDS, "milestone"})
    params: MilestoneParams
    default_summary: ClassVar[str] = "{app_name} passed {milestone:,.0f} {metric} ({value:,.0f})"


class DeadmanRule(_Rule):
    kind: Literal["deadman"]
    summary_fields: ClassVar[frozenset[str]] = frozenset({"source", "silent_hours"})
    params: DeadmanParams = DeadmanParams()
    event_type: ClassVar[str | None] = None
    default_summary: ClassVar[str] = "no event from source {source} for {silent_hours:.1f}h"

    @field_validator("match")
    @classmethod
    def _source_only(cls, v: Match) -> Match:
        """The worker knows a source's silence from its heartbeats (source and event type),
        so a matcher on any other field could not mean the same there as in a backtest."""
        other = sorted({m.name for m in v.matchers} - {"source"})
        if other:
            raise ValueError(f"a deadman rule matches on type and source only, not on {', '.join(other)}")
        return v


class NewsMatchRule(_Rule):
    kind: Literal["news_match"]
    summary_fields: ClassVar[frozenset[str]] = frozenset(
        {"title", "url", "source", "kind", "companies", "people"}
        | {"from_company", "to_company", "person", "role", "lang", "confidence"}
    )
    params: NewsMatchParams = NewsMatchParams()
    event_type: ClassVar[str] = "news"
    default_summary: ClassVar[str] = "{kind}: {title} ({companies})"

    def extra_fields(self) -> set[str]:
        return set(self.labels)

    @field_validator("params")
    @classmethod
    def _safe_keywords(cls, v: NewsMatchParams) -> NewsMatchParams:
        """Keywords are searched in every news title and summary: the matchers' regex rules apply."""
        for i, pattern in enumerate(v.keywords):
            try:
                check_regex(pattern)
            except ValueError as exc:
                raise ValueError(f"keywords[{i}] {pattern[:100]!r}: {exc}") from None
        return v


Rule = Annotated[
    SpikeRule | ThresholdRule | ChangeRule | RankRule | MilestoneRule | DeadmanRule | NewsMatchRule,
    Field(discriminator="kind"),
]


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[Rule]
    calendar: list[SpecialDay] = []  # the rules' own special days (a launch, a campaign)

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        names = [r.name for r in self.rules]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate rule names: {', '.join(dup)}")
        return self


def load(path: str | Path | None = None) -> RuleSet:
    """Load a rules file, or the shipped default pack when ``path`` is None."""
    if path is None:
        text, name = source(None)
        return yamlfile.parse(text, RuleSet, name)
    return yamlfile.load(path, RuleSet)


def source(path: str | Path | None) -> tuple[str, str]:
    """(text, name) of a rules file, or of the shipped pack when ``path`` is None."""
    if path is None:
        return resources.files(__package__).joinpath(DEFAULT_PACK).read_text("utf-8"), f"<default {DEFAULT_PACK}>"
    return Path(path).read_text("utf-8"), str(path)


def lines(text: str) -> dict[str, int]:
    """rule name -> the line its entry starts on, in a rules file's text (one that loads)."""

    def field(node, name: str):
        if not isinstance(node, yaml.MappingNode):
            return None
        return next((v for k, v in node.value if k.value == name), None)

    entries = field(yaml.compose(text, Loader=yaml.SafeLoader), "rules")
    out = {}
    for item in entries.value if isinstance(entries, yaml.SequenceNode) else []:
        name = field(item, "name")
        if isinstance(name, yaml.ScalarNode):
            out[name.value] = item.start_mark.line + 1
    return out
