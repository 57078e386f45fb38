"""Markets: each store country's name and time zone (``markets.yaml``).

A market's days are cut in its own zone: a US app's 14 May ends at midnight in New York,
not in Shanghai. ``tz("us")`` is what a daily rule uses when it sets no ``timezone:``.
A country not in the table has its days in UTC.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core import yamlfile

UTC = ZoneInfo("UTC")


def zone(name: str) -> str:
    """``name`` if it is an IANA time zone, else ValueError naming it."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r}") from None
    return name


class Market(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    timezone: str

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        return zone(v)


class MarketsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    markets: dict[Annotated[str, Field(pattern=r"^[a-z]{2}$")], Market]


@cache
def markets() -> dict[str, Market]:
    text = resources.files("core").joinpath("markets.yaml").read_text(encoding="utf-8")
    return yamlfile.parse(text, MarketsFile, "core/markets.yaml").markets


@cache
def tz(country: str) -> ZoneInfo:
    """The zone ``country``'s days are cut in (UTC for a country not in the table)."""
    m = markets().get(country)
    return ZoneInfo(m.timezone) if m is not None else UTC
