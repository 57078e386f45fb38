"""Rule configuration: pydantic models for the rules file and the default pack."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from alerts import yamlfile
from streams.detectors.spike import SpikeParams

DEFAULT_PACK = "default.yaml"

SUMMARY_SAMPLE = dict(
    rule="r", app_id="doubao", app_name="Doubao", platform="all", country="cn",
    metric="downloads", value=2.0, baseline=1.0, ratio=2.0, day="2024-11-14",
    baseline_days=7, severity="warning",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Match(_Strict):
    type: Literal["app.metric"] = "app.metric"
    metric: str | None = None
    app_id: str | None = None
    country: str | None = None
    platform: str | None = None

    def matches(self, ev) -> bool:
        if ev.type != self.type:
            return False
        return all(
            want is None or getattr(ev, field) == want
            for field, want in (("metric", self.metric), ("app_id", self.app_id),
                                ("country", self.country), ("platform", self.platform))
        )


class SpikeRule(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    kind: Literal["spike"]
    match: Match = Match(metric="downloads")
    params: SpikeParams = SpikeParams()
    timezone: str = "Asia/Shanghai"
    severity: Literal["info", "warning", "critical"] = "warning"
    labels: dict[str, str] = {}
    summary: str = (
        "{app_name} {metric} {value:,.0f} on {day} ({country}), "
        "{ratio:.1f}x the {baseline_days}-day median {baseline:,.0f}"
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r}") from None
        return v

    @field_validator("summary")
    @classmethod
    def _template(cls, v: str) -> str:
        try:
            v.format_map(SUMMARY_SAMPLE)
        except (KeyError, ValueError, IndexError, AttributeError) as exc:
            raise ValueError(f"bad summary template: {exc!r}; fields: {', '.join(SUMMARY_SAMPLE)}") from None
        return v

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


Rule = Annotated[SpikeRule, Field(discriminator="kind")]


class RuleSet(_Strict):
    rules: list[Rule]

    @model_validator(mode="after")
    def _unique(self) -> "RuleSet":
        names = [r.name for r in self.rules]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate rule names: {', '.join(dup)}")
        return self


def load(path: str | Path | None = None) -> RuleSet:
    """Load a rules file, or the shipped default pack when ``path`` is None."""
    if path is None:
        text = resources.files(__package__).joinpath(DEFAULT_PACK).read_text("utf-8")
        return yamlfile.parse(text, RuleSet, f"<default {DEFAULT_PACK}>")
    return yamlfile.load(path, RuleSet)
