"""Match enriched news by kind, company, person and keyword regexes. Pure."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Kind = Literal["hire", "departure", "dispute", "reorg", "funding", "launch", "other"]


class NewsMatchParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: list[Kind] = Field(default_factory=list, description="any of; empty: every kind")
    companies: list[str] | Literal["tracked"] = Field(
        default_factory=list, description="any of; 'tracked': a company of the app catalog"
    )
    people: list[str] = Field(default_factory=list, description="any of")
    keywords: list[str] = Field(default_factory=list, description="regexes; any of, on title+summary")

    @field_validator("keywords")
    @classmethod
    def _regexes(cls, v: list[str]) -> list[str]:
        for pattern in v:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regex {pattern!r}: {exc}") from None
        return v


MAX_TEXT = 4000  # characters of title + summary the keywords see: a regex scan stays bounded


def matches(
    p: NewsMatchParams, kind: str | None, companies: list[str], people: list[str], text: str, tracked: set[str]
) -> bool:
    if p.kinds and kind not in p.kinds:
        return False
    wanted = tracked if p.companies == "tracked" else set(p.companies)
    if wanted and not wanted & set(companies):
        return False
    if p.people and not set(p.people) & set(people):
        return False
    text = text[:MAX_TEXT]
    if p.keywords and not any(re.search(k, text, re.IGNORECASE) for k in p.keywords):
        return False
    return True
