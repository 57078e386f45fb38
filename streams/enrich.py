"""News enrichment: fill a ``news`` event's missing companies, people, kind and lang.

Pure and deterministic: no Faust, no Kafka, no I/O after import. The lexicon is
``streams/aliases.yaml`` (package data). It is read and validated once, at import,
and compiled into a few regular expressions per script.

Public API:
    enrich(news) -> News          a copy with the missing fields filled; fields that are
                                  already set (even to ``[]``) are kept as they are
    companies_in(text) -> list    sorted canonical company names named in ``text``
    people_in(text) -> list       people named in ``text``, unique, in order of appearance
    kind_of(text) -> str          hire|departure|dispute|reorg|funding|launch|other
    lang_of(text) -> str          zh|en
    COMPANIES                     the canonical company names, sorted; they equal the
                                  ``company`` values of ``connectors/catalog.yaml``
    load(path=None) -> Enricher   compile another table (None: the shipped one)

How text is read:
    title and summary are NFKC-normalised when they hold full-width letters or
    digits (ＯｐｅｎＡＩ becomes OpenAI), and runs of whitespace become one space.
    Terms with a Han character match as substrings; other terms match on ASCII word
    boundaries ("Qwen2.5" names Qwen, "Qwenly" does not). ASCII case never matters,
    except for the table's ``exact`` terms (MiniMax, not minimax). At one position
    the longest term wins. An ``exclude`` phrase (阿里山, "top quark") consumes its
    text, so the alias inside it counts for nothing.

People come from the table's named people (reported by their canonical ``name``)
and from a name right after a role word (工程师卓畅, "engineer Zhuo Chang"). The
second source is guarded by surname, stop-character and stop-word lists: a wrong
person is worse than a missing one.

Errors:
    core.yamlfile.ConfigError -- from ``load`` (and so at import) when the table is
        not valid; the message names file, line and field.
"""

from __future__ import annotations

import re
import unicodedata
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from core import yamlfile
from core.events import News
from streams.news import Reading, homonyms, roles
from streams.news import model as news_model
from streams.news.features import COMPANY, PERSON, features
from streams.news.text import pinyin_name, simplify

ALIASES_FILE = "aliases.yaml"
KINDS = ("denial", "dispute", "hire", "departure", "reorg", "funding", "launch")  # "other" is the default

_HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
_HAN = re.compile(f"[{_HAN_CLASS}]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_PROSE_WORD = re.compile(r"(?<![A-Za-z])[A-Za-z]*[a-z][A-Za-z]*")  # not an acronym (CEO, AI)
_NAME_HAN = re.compile(r"[\u4e00-\u9fff]+")
_PREV_WORD = re.compile(r"([A-Za-z]+)\W*$")
_NON_HAN = re.compile(f"[^{_HAN_CLASS}]+")
_ALNUM = re.compile("[A-Za-z0-9]")
_FULL_WIDTH = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_LEFT = r"(?<![A-Za-z0-9])"


def _is_zh(term: str) -> bool:
    """A term with a Han character matches as a substring; any other on word boundaries."""
    return _HAN.search(term) is not None


def _normalize(text: str) -> str:
    """Runs of whitespace as one space; NFKC only when there are full-width letters or
    digits (ＯｐｅｎＡＩ), since normalising every Chinese text costs more than the rest."""
    if _FULL_WIDTH.search(text):
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.split())


# ---------------------------------------------------------------- the table (pydantic)

Term = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _key(term: str) -> str:
    """Identity of a term: matching ignores ASCII case ("通义App" is "通义app")."""
    return _normalize(term).lower()


def _compile_check(patterns: list[str], flags: int) -> list[str]:
    for p in patterns:
        try:
            rx = re.compile(p, flags)
        except re.error as exc:
            raise ValueError(f"bad regular expression {p!r}: {exc}") from None
        if rx.groups:
            raise ValueError(f"{p!r} has a capturing group; use (?:...)")
    return patterns


class Company(_Strict):
    name: Term
    aliases: Annotated[list[Term], Field(min_length=1)]
    exact: list[Term] = []  # aliases matched case-sensitively (Latin ones only)
    exclude: list[Term] = []  # longer phrases that contain an alias but do not name the company

    @model_validator(mode="after")
    def _check(self) -> Company:
        keys = {_key(a) for a in self.aliases}
        for e in self.exact:
            if e not in self.aliases or _is_zh(e):
                raise ValueError(f"exact {e!r} must be one of the Latin aliases")
        for x in self.exclude:
            if _key(x) in keys:
                raise ValueError(f"exclude {x!r} is also an alias")
            if not any(a in _key(x) for a in keys):
                raise ValueError(f"exclude {x!r} contains none of the aliases, so it changes nothing")
        return self


class Person(_Strict):
    name: Term
    aliases: list[Term] = []  # the name is always an alias too


class Words(_Strict):
    zh: list[Term] = []
    en: list[Term] = []


class KindWords(Words):
    kind: Literal["denial", "dispute", "hire", "departure", "reorg", "funding", "launch"]
    weak: Words = Words()  # count only when a person or staff word is in the text
    zh_re: list[str] = []
    en_re: list[str] = []

    @field_validator("zh_re")
    @classmethod
    def _zh_re(cls, v: list[str]) -> list[str]:
        return _compile_check(v, re.I | re.A)

    @field_validator("en_re")
    @classmethod
    def _en_re(cls, v: list[str]) -> list[str]:
        return _compile_check(v, re.I | re.A)


class NameRules(_Strict):
    zh_surnames: str
    zh_stop_chars: str = ""
    zh_after: list[Term] = []
    zh_not_names: list[Term] = []
    en_not_names: list[Term] = []
    en_not_before: list[Term] = []

    @field_validator("zh_surnames", "zh_stop_chars")
    @classmethod
    def _chars(cls, v: str) -> str:
        v = "".join(v.split())
        bad = [c for c in v if not _HAN.match(c)]
        if bad:
            raise ValueError(f"only Han characters allowed, got {''.join(bad)!r}")
        return v


class AliasTable(_Strict):
    version: Literal[1]
    companies: Annotated[list[Company], Field(min_length=1)]
    people: list[Person] = []
    roles: Words = Words()
    staff: Words = Words()
    names: NameRules
    kinds: list[KindWords] = []
    kind_exclude: Words = Words()

    @model_validator(mode="after")
    def _unique(self) -> AliasTable:
        def dups(items: list[str]) -> list[str]:
            seen: set[str] = set()
            return sorted({i for i in items if i in seen or seen.add(i)})

        for what, names in (
            ("company", [c.name for c in self.companies]),
            ("person", [p.name for p in self.people]),
            ("kind", [k.kind for k in self.kinds]),
        ):
            if d := dups(names):
                raise ValueError(f"duplicate {what} names: {', '.join(d)}")
        owners: dict[str, str] = {}
        for owner, terms in [(f"company {c.name}", [*c.aliases, *c.exclude]) for c in self.companies] + [
            (f"person {p.name}", [p.name, *p.aliases]) for p in self.people
        ]:
            for t in {_key(t) for t in terms}:
                if owners.setdefault(t, owner) != owner:
                    raise ValueError(f"{t!r} belongs to both {owners[t]} and {owner}")
        return self


# ---------------------------------------------------------------- compiled matchers


def _right(last: str) -> str:
    """The right word boundary of a Latin term ending in ``last``."""
    if last.isascii() and last.isdigit():
        return r"(?![A-Za-z0-9])"
    if last.isascii() and last.isalpha():
        return r"(?![A-Za-z])"  # a version may follow a name: Qwen2.5, GLM4
    return ""


def _trie(terms: list[str], latin: bool) -> str:
    """A regex for many literal terms, as a trie: one branch per next character.

    Python's ``re`` tries alternatives one by one, so a flat alternation of a hundred
    terms costs a hundred attempts per position; a trie costs one or two, and its
    first characters let ``re`` skip positions that start no term. Deeper branches
    come before a term's end, so the longest term wins. With ``latin``, terms get a
    right word boundary; the caller puts the left one in front of the whole trie.
    """
    root: dict = {}
    for term in terms:
        node = root
        for ch in term:
            node = node.setdefault(ch, {})
        node[None] = True

    def emit(node: dict, last: str) -> str:
        alts = []
        for ch in sorted(k for k in node if k is not None):
            alts.append(re.escape(ch) + emit(node[ch], ch))
        if None in node:
            alts.append(_right(last) if latin else "")
        return alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"

    return emit(root, "")


class _Text:
    """Normalised text, and where the Latin scanners need to look.

    Latin patterns on Han text are slow (no first-character skipping), and a Latin
    term never contains a Han character, so they only scan the non-Han runs that
    hold an ASCII letter or digit. Positions stay those of the whole text.
    """

    __slots__ = ("han", "latin", "s", "title_end")

    def __init__(self, raw: str, summary: str | None = None) -> None:
        s = simplify(_normalize(raw))
        self.title_end = len(s)
        if summary:
            s = f"{s}\n{simplify(_normalize(summary))}"
        self.s = s
        self.han = _HAN.search(s) is not None
        if not self.han:
            self.latin = [(0, len(s))] if _ALNUM.search(s) else []
        else:
            self.latin = [m.span() for m in _NON_HAN.finditer(s) if _ALNUM.search(s, *m.span())]

    def finditer(self, rx: re.Pattern, zh: bool):
        if zh:
            return rx.finditer(self.s) if self.han else ()
        return (m for a, b in self.latin for m in rx.finditer(self.s, a, b))


class _Alternation:
    """Many terms of one script in one regex (a trie); a match maps back to its payload.

    Terms are looked up by their key (``_key``: lower-cased, which is exact because
    the patterns compile with ``re.A | re.I``, ASCII-only case folding). ``exact``
    terms are in the same case-insensitive trie, so the longest term still wins
    ("Moonshot Factory" over "Moonshot"); a match in the wrong case counts for nothing.
    Regex entries, if any, are a second regex, each entry its own group, found by
    ``lastindex``.
    """

    def __init__(
        self,
        zh: bool,
        terms: dict[str, object],
        regexes: list[tuple[str, object]] = (),
        exact: dict[str, str] | None = None,
    ) -> None:
        self.zh = zh
        self.lookup = terms
        self.exact = exact or {}
        flags = re.I | re.A
        if zh:
            pattern = _trie(list(terms), latin=False)
        else:  # one left boundary in front of the trie is much faster than one per branch
            bounded = [t for t in terms if t[0].isascii() and t[0].isalnum()]
            free = [t for t in terms if t not in bounded]
            pattern = "|".join(
                ([f"{_LEFT}{_trie(bounded, latin=True)}"] if bounded else [])
                + ([_trie(free, latin=True)] if free else [])
            )
        self.regex = re.compile(pattern, flags) if terms else None
        self.by_group = [None] + [payload for _, payload in regexes]
        left = "" if zh else _LEFT
        self.extra = (
            re.compile(left + "(?:" + "|".join(f"({rx})" for rx, _ in regexes) + ")", flags) if regexes else None
        )

    def scan(self, text: _Text):
        """Yield (start, end, payload) for the terms' matches, then the regex entries'."""
        if self.regex is not None:
            exact = self.exact
            for m in text.finditer(self.regex, self.zh):
                found = m.group()
                key = found.lower()
                if key in exact and found != exact[key]:
                    continue  # "minimax" is not MiniMax
                yield m.start(), m.end(), self.lookup.get(key)
        if self.extra is not None:
            for m in text.finditer(self.extra, self.zh):
                yield m.start(), m.end(), self.by_group[m.lastindex]


_EXCLUDED = None
_STAFF = ("staff",)


class Enricher:
    """A compiled alias table. Thread-safe and immutable after construction."""

    def __init__(self, table: AliasTable, model: news_model.Model | None = None) -> None:
        self.table = table
        self.companies: tuple[str, ...] = tuple(sorted(c.name for c in table.companies))
        self.kind_order: tuple[str, ...] = tuple(k.kind for k in table.kinds)

        ents: dict[bool, dict[str, object]] = {True: {}, False: {}}
        exact: dict[str, str] = {}  # key -> the case-sensitive spelling
        self._person_key: dict[str, str] = {}
        for c in table.companies:
            for a in c.aliases:
                ents[_is_zh(a)][_key(a)] = ("company", c.name)
            for x in c.exclude:
                ents[_is_zh(x)][_key(x)] = _EXCLUDED
            exact.update((_key(e), _normalize(e)) for e in c.exact)
        for p in table.people:
            for a in (p.name, *p.aliases):
                ents[_is_zh(a)][_key(a)] = ("person", p.name)
                self._person_key[_key(a)] = p.name
        self._ents = (_Alternation(True, ents[True]), _Alternation(False, ents[False], exact=exact))

        kw: dict[bool, dict[str, object]] = {True: {}, False: {}}
        rxs: dict[bool, list] = {True: [], False: []}
        for words, payload in ((table.staff, _STAFF), (table.kind_exclude, _EXCLUDED)):
            for terms in (words.zh, words.en):
                for t in terms:
                    kw[_is_zh(t)][_key(t)] = payload
        # later kinds first, so that a term listed under two kinds keeps the earlier one
        for k in reversed(table.kinds):
            for words, weak in ((k.weak, True), (k, False)):
                for t in (*words.zh, *words.en):
                    kw[_is_zh(t)][_key(t)] = (k.kind, weak)
            rxs[True] += [(r, (k.kind, False)) for r in k.zh_re]
            rxs[False] += [(r, (k.kind, False)) for r in k.en_re]
        self._kinds = (_Alternation(True, kw[True], rxs[True]), _Alternation(False, kw[False], rxs[False]))

        rules = table.names
        self._surnames = frozenset(rules.zh_surnames)
        self._stop_chars = frozenset(rules.zh_stop_chars)
        self._zh_not_names = tuple(rules.zh_not_names)
        self._zh_after = re.compile(_trie(rules.zh_after, latin=False)) if rules.zh_after else None
        latin_tokens = {
            w.lower() for c in table.companies for a in c.aliases if not _is_zh(a) for w in _LATIN_WORD.findall(a)
        }
        self._en_not_names = (
            {w.lower() for w in rules.en_not_names}
            | latin_tokens
            | {w.lower() for r in table.roles.en for w in r.split()}
        )
        self._en_not_before = {w.lower() for w in rules.en_not_before}

        def alt(terms: list[str]) -> str:
            return _trie([_normalize(t) for t in set(terms)], latin=False)

        # a role, then (looked at, not consumed) the name: 工程师卓畅, "engineer Zhuo Chang"
        self._zh_role = (
            re.compile(f"{alt(table.roles.zh)} ?(?=[\u4e00-\u9fff])", re.I | re.A) if table.roles.zh else None
        )
        en_roles = [r for r in table.roles.en if not _is_zh(r)]
        word = r"[A-Z][a-z]+(?:-[A-Za-z][a-z]+)?"
        self._en_role = (
            re.compile(rf"{_LEFT}(?i:{alt(en_roles)}) (?=({word}) ({word})(?![A-Za-z]))", re.A) if en_roles else None
        )
        role_words = [*table.roles.zh, *en_roles] or ["\uffff"]
        self._any_role = re.compile(
            f"{_LEFT}{_trie([_normalize(t) for t in set(role_words)], latin=True)}", re.I | re.A
        )
        self.model = model

    # ------------------------------------------------------------ scanning

    def _entities(self, text: _Text) -> tuple[list[roles.Mention], list[tuple[int, int, str, str | None]]]:
        """Company mentions (start, end, company), homonyms dropped; people from the table."""
        companies: list[roles.Mention] = []
        people: list[tuple[int, int, str, str | None]] = []
        for alternation in self._ents:
            for start, end, payload in alternation.scan(text):
                if payload is _EXCLUDED:
                    continue
                what, name = payload
                if what == "company":
                    companies.append((start, end, name))
                else:
                    people.append((start, end, name, None))
        return homonyms.drop(text.s, companies), people

    def _names_company(self, chars: str) -> bool:
        scan = self._ents[0].scan(_Text(chars))
        return any(p is not _EXCLUDED and p[0] == "company" for _, _, p in scan)

    def _zh_name(self, s: str, i: int) -> str | None:
        """A 2-3 character Chinese name starting at ``i`` (right after a role word), or None."""
        if s[i] not in self._surnames:
            return None
        run = _NAME_HAN.match(s, i)
        for n in (3, 2):
            if run is None or run.end() - i < n:
                continue
            cand = s[i : i + n]
            if any(c in self._stop_chars for c in cand[1:]) or any(w in cand for w in self._zh_not_names):
                continue
            rest = i + n  # what follows must end the name: punctuation, Latin, or a known word
            if rest < len(s) and _HAN.match(s, rest) and not (self._zh_after and self._zh_after.match(s, rest)):
                continue
            return None if self._names_company(cand) else cand
        return None

    def _en_name(self, s: str, m: re.Match) -> str | None:
        """ "Given Family" right after a role word, unless either word is a known non-name."""
        given, family = m.group(1), m.group(2)
        if given.lower() in self._en_not_names or family.lower() in self._en_not_names:
            return None
        prev = _PREV_WORD.search(s, max(0, m.start() - 30), m.start())
        if prev and prev.group(1).lower() in self._en_not_before:  # "to lead", "will head"
            return None
        return f"{given} {family}"

    def _people(self, text: _Text, known: list) -> list[tuple[int, int, str, str | None]]:
        """(start, end, name, role word) of each person, in order; Han names in pinyin."""
        found = list(known)
        if self._zh_role is not None:
            for m in text.finditer(self._zh_role, zh=True):
                name = self._zh_name(text.s, m.end())
                if name:
                    found.append((m.end(), m.end() + len(name), self._person_key.get(name) or pinyin_name(name), m[0]))
        if self._en_role is not None:
            for m in text.finditer(self._en_role, zh=False):
                name = self._en_name(text.s, m)
                if name:
                    role = text.s[m.start() : m.start(1)]
                    found.append((m.start(1), m.end(2), self._person_key.get(name.lower(), name), role))
        found.sort(key=lambda p: p[0])
        return found

    def _hits(self, text: _Text, involved: bool) -> tuple[list[str], str]:
        """The kind table's hits as feature tags, and the kind the table alone gives."""
        strong: set[str] = set()
        weak: set[str] = set()
        for alternation in self._kinds:
            for _, _, payload in alternation.scan(text):
                if payload is _EXCLUDED:
                    continue
                if payload is _STAFF:
                    involved = True
                else:
                    (weak if payload[1] else strong).add(payload[0])
        kind = next((k for k in self.kind_order if k in strong or (involved and k in weak)), "other")
        hits = [*sorted(strong), *(f"{k}~weak" for k in sorted(weak)), f"table:{kind}"]
        return ([*hits, "involved"] if involved else hits), kind

    def tags(self, text: _Text, mentions: list[roles.Mention], people: list) -> tuple[list[str], str]:
        """The model's rule features and the table's kind: the table's hits (``_hits``),
        whether anyone is named, several companies are, and the sides they are read as."""
        hits, table_kind = self._hits(text, bool(people))
        if not mentions and not people:
            hits.append("nobody")
        if len({c for *_, c in mentions}) > 1:
            hits.append("companies")
        hits.extend(f"side:{t}" for t in roles.side_tags(text.s, mentions))
        return hits, table_kind

    def _decide(self, masked: str, hits: list[str], table_kind: str) -> tuple[str, float]:
        """The type and its probability (``model.decide``); the table's kind without a model."""
        if self.model is None:
            return table_kind, 1.0
        probs = self.model.probabilities(features(masked, hits))
        return news_model.decide(probs, table_kind, masked, named="nobody" not in hits)

    @staticmethod
    def _lang(s: str, spans: list[tuple[int, int]]) -> str:
        """``zh`` when the Han characters are at least half as many as the Latin words.

        Company and person names are left out (they are in either language), and so
        are acronyms (CEO, AI). Deterministic; no model.
        """
        rest, at = [], 0
        for start, end in sorted(spans):
            rest.append(s[at:start])
            at = max(at, end)
        rest.append(s[at:])
        rest_text = " ".join(rest)
        han, words = len(_HAN.findall(rest_text)), len(_PROSE_WORD.findall(rest_text))
        if not han and not words:  # nothing but names and acronyms: judge by the names
            han, words = len(_HAN.findall(s)), len(_PROSE_WORD.findall(s))
        # a Han character carries about half an English word
        return "zh" if han and 2 * han >= words else "en"

    # ------------------------------------------------------------ public

    def read(self, title: str, summary: str | None = None, kind: str | None = None) -> Reading:
        """Everything the stage tells of one item. With ``kind`` given, only its roles are read."""
        text = _Text(title, summary)
        mentions, known = self._entities(text)
        people = self._people(text, known)
        confidence = None
        if kind is None:
            hits, table_kind = self.tags(text, mentions, people)
            kind, confidence = self._decide(_mask(text.s, mentions, people), hits, table_kind)
        src, dst = roles.move(text.s, kind, mentions, text.title_end)
        if kind == "departure" and dst:
            if confidence is None:
                dst = None  # a producer's departure keeps its kind, and so has no to side
            else:
                kind = "hire"  # left X for Y: a move
        names = list(dict.fromkeys(p[2] for p in people))
        role = next((p[3] for p in people if p[3]), None) or self._first_role(text)
        spans = [(a, b) for a, b, _ in mentions] + [(a, b) for a, b, *_ in people]
        return Reading(
            kind=kind,
            companies=sorted({c for *_, c in mentions}),
            people=names,
            lang=self._lang(text.s, spans),
            from_company=src,
            to_company=dst,
            person=names[0] if names else None,
            role=roles.role_name(role) if role else None,
            confidence=None if confidence is None else round(confidence, 3),
        )

    def _first_role(self, text: _Text) -> str | None:
        m = self._any_role.search(text.s)
        return m[0] if m else None

    def companies_in(self, text: str) -> list[str]:
        return self.read(text).companies

    def people_in(self, text: str) -> list[str]:
        return self.read(text).people

    def kind_of(self, text: str) -> str:
        return self.read(text).kind

    def lang_of(self, text: str) -> str:
        return self.read(text).lang

    def enrich(self, news: News) -> News:
        """Missing fields filled. The roles go with the kind: a producer that sets ``kind``
        gets the roles read for its kind, and no confidence."""
        if all(getattr(news, f) is not None for f in ("companies", "people", "kind", "lang")):
            return news.model_copy()
        r = self.read(news.title, news.summary, news.kind)
        update = {f: getattr(r, f) for f in ("companies", "people", "kind", "lang") if getattr(news, f) is None}
        if news.kind is None:
            update |= {f: getattr(r, f) for f in ROLE_FIELDS}
        return news.model_copy(update=update)


ROLE_FIELDS = ("from_company", "to_company", "person", "role", "confidence")


def _mask(s: str, mentions: list[roles.Mention], people: list) -> str:
    """``s`` with company mentions as Ⓒ and people as Ⓟ, for the model."""
    spans = sorted([(a, b, COMPANY) for a, b, _ in mentions] + [(a, b, PERSON) for a, b, *_ in people])
    out, at = [], 0
    for a, b, mark in spans:
        if a >= at:
            out += [s[at:a], mark]
            at = b
    out.append(s[at:])
    return "".join(out)


def load(path: str | Path | None = None, model: str | Path | None = None) -> Enricher:
    """Compile an alias table file, or the shipped ``aliases.yaml`` when ``path`` is None,
    with the type model at ``model`` (None: the shipped ``streams/news/model.json``)."""
    weights = news_model.load(model)
    if path is None:
        text = resources.files(__package__).joinpath(ALIASES_FILE).read_text("utf-8")
        return Enricher(yamlfile.parse(text, AliasTable, f"<{__package__}/{ALIASES_FILE}>"), weights)
    return Enricher(yamlfile.load(path, AliasTable), weights)


_DEFAULT = load()
COMPANIES: tuple[str, ...] = _DEFAULT.companies


def enrich(news: News) -> News:
    """A copy of ``news`` with missing companies/people/kind/lang (and, with the kind, the
    roles: from_company, to_company, person, role, confidence) filled; set fields kept."""
    return _DEFAULT.enrich(news)


def companies_in(text: str) -> list[str]:
    """Sorted canonical names (members of ``COMPANIES``) of the companies ``text`` names."""
    return _DEFAULT.companies_in(text)


def people_in(text: str) -> list[str]:
    """People ``text`` names, unique, in order of appearance."""
    return _DEFAULT.people_in(text)


def kind_of(text: str) -> str:
    """The news type: hire, departure, dispute, reorg, funding, denial, launch or other."""
    return _DEFAULT.kind_of(text)


def lang_of(text: str) -> str:
    """``zh`` when Han characters carry a meaningful share of the text, else ``en``."""
    return _DEFAULT.lang_of(text)
