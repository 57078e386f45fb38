"""Match enriched news by kind, company, direction of a move, person and keyword regexes. Pure."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Kind = Literal["hire", "departure", "dispute", "reorg", "funding", "denial", "launch", "other"]


class NewsMatchParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: list[Kind] = Field(default_factory=list, description="any of; empty: every kind")
    companies: list[str] | Literal["tracked"] = Field(
        default_factory=list, description="any of; 'tracked': a company of the app catalog"
    )
    people: list[str] = Field(default_factory=list, description="any of")
    from_companies: list[str] | Literal["tracked"] = Field(
        default_factory=list, description="any of, as the item's from_company (the side a person left)"
    )
    to_companies: list[str] | Literal["tracked"] = Field(
        default_factory=list, description="any of, as the item's to_company (the hiring side)"
    )
    min_confidence: float = Field(default=0.0, ge=0, le=1, description="the least confidence of the type")
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


def _any(wanted: list[str] | str, found: set[str], tracked: set[str]) -> bool:
    names = tracked if wanted == "tracked" else set(wanted)
    return not names or bool(names & found)


def matches(
    p: NewsMatchParams,
    kind: str | None,
    companies: list[str],
    people: list[str],
    text: str,
    tracked: set[str],
    roles: dict | None = None,
) -> bool:
    """``roles``: the item's from_company, to_company and confidence (missing: unknown,
    which no from/to condition matches and any min_confidence lets through)."""
    roles = roles or {}
    if p.kinds and kind not in p.kinds:
        return False
    if not _any(p.companies, set(companies), tracked):
        return False
    for wanted, field in ((p.from_companies, "from_company"), (p.to_companies, "to_company")):
        if wanted and not _any(wanted, {roles.get(field)} - {None}, tracked):
            return False
    confidence = roles.get("confidence")
    if confidence is not None and confidence < p.min_confidence:
        return False
    if p.people and not set(p.people) & set(people):
        return False
    text = text[:MAX_TEXT]
    if p.keywords and not any(re.search(k, text, re.IGNORECASE) for k in p.keywords):
        return False
    return True
