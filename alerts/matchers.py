"""Alertmanager-style label matchers: ``name="v"``, ``name!="v"``, ``name=~"re"``, ``name!~"re"``.

Regexes are anchored, as in Alertmanager. Used by rules (on events) and by routes,
inhibitions and silences (on alert labels).

Regex safety. Alertmanager uses RE2 (linear time); Python's ``re`` backtracks, and a
regex from a config file or a silence posted to the worker's API is evaluated on
every event or alert, against values an event producer controls. So a regex is
checked when a matcher is built (from a string, a dict or JSON: every path), and
refused when it could take more than polynomial-and-small time:

* backreferences and lookaround (not RE2 syntax either);
* a quantifier that can repeat (``+``, ``*``, ``{2,}``...) applied to a group that
  can match strings of different lengths, holds such a quantifier itself, or has an
  alternation whose branches can start with the same character: ``(a+)+``, ``(a*)*``,
  ``(a|aa)+``, ``(\\w+\\s?)+``, ``(.*a){3}``, ``(.a|a.)+`` (exponential backtracking).
  Conservative: ``(\\d+\\.){3}`` is refused too (write ``\\d+\\.\\d+\\.\\d+\\.``);
* more than two unbounded quantifiers in all: ``.*a.*b.*c`` is cubic (``.*foo.*``
  is fine).

And at match time a regex sees at most the first ``MAX_MATCH_INPUT`` characters of
a value, which bounds the quadratic cases that remain (``.*a.*b`` on a 64 KB news
summary took 6 s; capped, at most a few tens of milliseconds). Every label appwatch
routes on is far shorter; a longer event field (a news ``summary``) is matched on
its head.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

try:  # Python 3.11+
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_MATCHER = re.compile(r'^\s*([a-z_]+)\s*(=~|!~|!=|=)\s*"?(.*?)"?\s*$')
_MAX_REGEX = 500
MAX_MATCH_INPUT = 2048  # characters of a value a regex is matched against
_MAX_UNBOUNDED = 2  # unbounded quantifiers per regex
_BIG = 16  # a quantifier allowing more repeats than this counts as unbounded

_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", _sre.MAX_REPEAT)}
_BACKREFS = {_sre.GROUPREF, _sre.GROUPREF_EXISTS}
_LOOKAROUND = {_sre.ASSERT, _sre.ASSERT_NOT}


def _first_literal(branch) -> int | None:
    """The literal character a branch must start with, or None if it can start otherwise."""
    items = list(branch)
    while items:
        op, av = items[0]
        if op == _sre.LITERAL:
            return av
        if op == _sre.SUBPATTERN:
            items = list(av[-1]) + items[1:]
            continue
        return None
    return None


def check_regex(pattern: str) -> None:
    """Raise ``ValueError`` (saying why) if ``pattern`` is not a safe matcher regex."""
    if len(pattern) > _MAX_REGEX:
        raise ValueError(f"bad regex: longer than {_MAX_REGEX} characters")
    try:
        re.compile(pattern)
        tree = _sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        raise ValueError(f"bad regex: {exc}") from None
    unbounded = 0

    def walk(items, repeated: bool) -> None:
        nonlocal unbounded
        for op, av in items:
            if op in _BACKREFS:
                raise ValueError("unsafe regex: backreferences are not allowed (RE2 syntax, as in Alertmanager)")
            if op in _LOOKAROUND:
                raise ValueError("unsafe regex: lookahead and lookbehind are not allowed (RE2 syntax, as in Alertmanager)")
            if op in _REPEATS:
                lo, hi, sub = av
                if hi > 1 and repeated:
                    raise ValueError("unsafe regex: nested quantifiers (like (a+)+) can take exponential time; "
                                     "write the repetition once")
                if hi > 1 and len(set(sub.getwidth())) > 1:
                    raise ValueError("unsafe regex: a repeated group that can match different lengths "
                                     "(like (a|aa)+ or (ab?)+) can take exponential time")
                if hi > _BIG:
                    unbounded += 1
                walk(sub, repeated or hi > 1)
            elif op == _sre.BRANCH:
                branches = av[1]
                if repeated:
                    firsts = [_first_literal(b) for b in branches]
                    if None in firsts or len(set(firsts)) != len(firsts):
                        raise ValueError("unsafe regex: a repeated alternation whose branches can start alike "
                                         "(like (a|aa)+) can take exponential time")
                for b in branches:
                    walk(b, repeated)
            elif op == _sre.SUBPATTERN:
                walk(av[-1], repeated)
            elif op == getattr(_sre, "ATOMIC_GROUP", None):
                walk(av, repeated)

    walk(tree, False)
    if unbounded > _MAX_UNBOUNDED:
        raise ValueError(f"unsafe regex: more than {_MAX_UNBOUNDED} unbounded quantifiers (like .*a.*b.*c) can take "
                         "polynomial time; split it into several matchers")


class Matcher(BaseModel):
    """``name="value"``, ``name!="value"``, ``name=~"regex"``, ``name!~"regex"`` (anchored)."""

    model_config = ConfigDict(frozen=True)

    name: str
    op: Literal["=", "!=", "=~", "!~"]
    value: str

    @model_validator(mode="after")
    def _safe_regex(self) -> "Matcher":
        if self.op in ("=~", "!~"):
            check_regex(self.value)
        return self

    @classmethod
    def parse(cls, text: str) -> "Matcher":
        if not isinstance(text, str):
            raise ValueError(f'a matcher is a string like name="value", not {type(text).__name__}')
        m = _MATCHER.match(text)
        if not m:
            raise ValueError(f'bad matcher {text!r}: expected name="value" with =, !=, =~ or !~')
        if m[2] in ("=~", "!~"):
            try:
                check_regex(m[3])
            except ValueError as exc:  # "bad regex in 'country=~...': ..."
                raise ValueError(str(exc).replace(" regex: ", f" regex in {text[:100]!r}: ", 1)) from None
        return cls(name=m[1], op=m[2], value=m[3])

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        hit = re.fullmatch(self.value, value[:MAX_MATCH_INPUT]) is not None
        return hit if self.op == "=~" else not hit


def matches_all(matchers: list[Matcher], labels: dict[str, str]) -> bool:
    return all(m.matches(labels.get(m.name, "")) for m in matchers)


def _parse_all(v: Any) -> Any:
    if not isinstance(v, list):
        return v
    return [m if isinstance(m, (Matcher, dict)) else Matcher.parse(m) for m in v]


# a list of matchers written as strings in YAML: ['app_id="doubao"', 'country=~"cn|us"']
Matchers = Annotated[list[Matcher], BeforeValidator(_parse_all)]
