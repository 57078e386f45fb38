"""Alertmanager-style label matchers: ``name="v"``, ``name!="v"``, ``name=~"re"``, ``name!~"re"``.

Regexes are anchored, as in Alertmanager. Used by rules (on events) and by routes,
inhibitions and silences (on alert labels).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

_MATCHER = re.compile(r'^\s*([a-z_]+)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')
_MAX_REGEX = 500


class Matcher(BaseModel):
    """``name="value"``, ``name!="value"``, ``name=~"regex"``, ``name!~"regex"`` (anchored)."""

    model_config = ConfigDict(frozen=True)

    name: str
    op: Literal["=", "!=", "=~", "!~"]
    value: str

    @classmethod
    def parse(cls, text: str) -> "Matcher":
        m = _MATCHER.match(text)
        if not m:
            raise ValueError(f'bad matcher {text!r}: expected name="value" with =, !=, =~ or !~')
        if m[2] in ("=~", "!~"):
            if len(m[3]) > _MAX_REGEX:
                raise ValueError(f"regex in {text!r} is longer than {_MAX_REGEX} characters")
            try:
                re.compile(m[3])
            except re.error as exc:
                raise ValueError(f"bad regex in {text!r}: {exc}") from None
        return cls(name=m[1], op=m[2], value=m[3])

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        hit = re.fullmatch(self.value, value) is not None
        return hit if self.op == "=~" else not hit


def matches_all(matchers: list[Matcher], labels: dict[str, str]) -> bool:
    return all(m.matches(labels.get(m.name, "")) for m in matchers)


def _parse_all(v: Any) -> Any:
    if not isinstance(v, list):
        return v
    return [m if isinstance(m, (Matcher, dict)) else Matcher.parse(m) for m in v]


# a list of matchers written as strings in YAML: ['app_id="doubao"', 'country=~"cn|us"']
Matchers = Annotated[list[Matcher], BeforeValidator(_parse_all)]
