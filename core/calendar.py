"""Each market's special days: public holidays and commercial days.

Public holidays come from the ``holidays`` package (lunar dates included: the Spring
Festival, Chuseok); commercial days (618, Singles' Day, Black Friday, phone launches) from
``calendar.yaml``, plus a rules file's own ``calendar:`` entries. ``Calendar.special(country,
day)`` is the name of the day (None: an ordinary one), day as a ``date.toordinal()``.

A special day spans ``around`` more days on each side when a rule asks (the days off that
surround a holiday behave like it).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import cache
from importlib import resources
from typing import Annotated

import holidays
from pydantic import BaseModel, ConfigDict, Field, model_validator

from core import yamlfile

MONTH_DAY = re.compile(r"^(\d{2})-(\d{2})$")
FULL = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SPECIAL_MEMO = 100_000  # (country, day, around) answers kept (then it starts again)
DateText = Annotated[str, Field(pattern=r"^(\d{4}-)?\d{2}-\d{2}$")]


class Day(BaseModel):
    """One commercial day, or a span of them, in one market (``ww``: every market)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    market: Annotated[str, Field(pattern=r"^[a-z]{2}$")]
    name: Annotated[str, Field(min_length=1)]
    date: DateText | None = None
    through: DateText | None = None
    after: str | None = None
    days: int = 0

    @model_validator(mode="after")
    def _one_anchor(self) -> Day:
        if (self.date is None) == (self.after is None):
            raise ValueError("give either date (MM-DD or YYYY-MM-DD) or after (a public holiday's name)")
        for text in (self.date, self.through):
            if text is not None:
                _on(text, 2024)  # a real date (02-30 is refused)
        return self

    def dates(self, year: int, public: dict[date, str]) -> list[date]:
        if self.after is not None:
            return [d + timedelta(days=self.days) for d, name in public.items() if name == self.after]
        if FULL.match(self.date) and int(self.date[:4]) != year:
            return []
        first = _on(self.date, year)
        last = _on(self.through, year) if self.through else first
        return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _on(text: str, year: int) -> date:
    if MONTH_DAY.match(text):
        text = f"{year}-{text}"
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date: {text!r}") from None


class CalendarFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: list[Day]


@cache
def shipped() -> tuple[Day, ...]:
    text = resources.files("core").joinpath("calendar.yaml").read_text(encoding="utf-8")
    return tuple(yamlfile.parse(text, CalendarFile, "core/calendar.yaml").days)


@cache
def _public(country: str, year: int) -> dict[date, str]:
    try:
        found = holidays.country_holidays(country.upper(), years=year)
    except NotImplementedError:  # a country the package does not know (ww): no public holidays
        return {}
    return {d: re.sub(r" \((?:observed|estimated)\)$", "", n) for d, n in found.items()}


class Calendar:
    """The special days of every market: public holidays plus ``days`` (commercial ones)."""

    def __init__(self, days: tuple[Day, ...] | list[Day] = ()) -> None:
        self.extra = tuple(days)  # the rules file's own
        self.days = (*shipped(), *self.extra)
        self._years: dict[tuple[str, int], dict[int, str]] = {}
        self._special: dict[tuple[str, int, int], str | None] = {}  # memo of ``special``
        self._last: tuple = ("", 0, 0, None)  # its last answer: (country, day, around, name)

    def year(self, country: str, year: int) -> dict[int, str]:
        """day ordinal -> name, of ``country``'s special days in ``year``; built once."""
        got = self._years.get((country, year))
        if got is None:
            public = _public(country, year)
            got = {d.toordinal(): name for d, name in public.items()}
            for day in self.days:
                if day.market in (country, "ww"):
                    for d in day.dates(year, public):
                        got.setdefault(d.toordinal(), day.name)
            self._years[country, year] = got
        return got

    def special(self, country: str, day: int, around: int = 0) -> str | None:
        """The name of ``day`` in ``country`` (or of the special day within ``around`` days).
        Memoised: the detect stage asks once per series per day."""
        last = self._last  # the detect stage asks for the same day series after series
        if day == last[1] and country == last[0] and around == last[2]:
            return last[3]
        key = (country, day, around)
        name = self._special.get(key, self)  # self: not asked yet
        if name is not self:
            self._last = (country, day, around, name)
            return name
        name = None
        for k in sorted(range(-around, around + 1), key=abs):
            d = day + k
            name = self.year(country, date.fromordinal(d).year).get(d)
            if name is not None:
                break
        if len(self._special) >= SPECIAL_MEMO:
            self._special.clear()
        self._special[key] = name
        self._last = (country, day, around, name)
        return name

    def same_day_last_year(self, country: str, day: int) -> int | None:
        """The day of last year that was the same special day, counted from its start
        (the 2nd day of the Spring Festival -> last year's 2nd day); None if there is none."""
        this_year = self.year(country, date.fromordinal(day).year)
        name = this_year.get(day)
        if name is None:
            return None
        nth = sum(1 for d in range(day - 14, day) if this_year.get(d) == name)
        last = self.year(country, date.fromordinal(day).year - 1)
        matches = sorted(d for d, n in last.items() if n == name)
        return matches[nth] if nth < len(matches) else None
