"""Label matchers, parsed exactly as Alertmanager parses them (its default "fallback" mode).

Syntax (https://prometheus.io/docs/alerting/latest/configuration/#matcher):

* ``name="value"``, ``name!="value"``, ``name=~"regex"``, ``name!~"regex"``; regexes
  are anchored (``^(?:regex)$``), as in Alertmanager;
* several matchers in one string, separated by commas, optionally in braces:
  ``{severity="critical", app_id=~"dou.*"}``, ``foo=bar,dings!=bums``;
* values may be unquoted (``foo=bar``); in quoted values ``\\"``, ``\\\\`` and ``\\n``
  are escapes;
* a name in double quotes may hold any UTF-8 (``"app name"="豆包"``); such a matcher,
  which only the UTF-8 parser reads, takes Go's escapes (``\\t``, ``\\x..``,
  ``\\u....``) in its quoted strings.

Two parsers, transcribed from Alertmanager: the classic one (``pkg/labels/parse.go``) and
the UTF-8 one (``matcher/parse``). Fallback mode: if the classic parser accepts the
input, its result is used; otherwise the UTF-8 parser's; if both refuse it, the
classic parser's error. One matcher alone (``Matcher.parse``, the CLI's ``-m``) refuses
braces. Used by rules (on events) and by routes, inhibitions and silences (on alert
labels); a ``matchers:`` list in a config parses each string as several matchers.

Exceptions (all ``ValueError``; pydantic wraps them in ``ValidationError``):
    MatcherError -- the text is not valid matcher syntax, or a regex in it does not
        compile; the message is Alertmanager's, prefixed with ``bad matcher '<text>': ``
        by ``Matcher.parse`` and ``parse_matchers``;
    ValueError -- from ``check_regex``: a regex is unsafe (``unsafe regex in '<text>':
        ...``) or refused (``bad regex ...``: too long, not RE2 syntax, or, for a matcher
        built from a dict, not compiling), see below.

Regex differences. Alertmanager compiles regexes with Go's RE2; appwatch matches with
Python's ``re``. Syntax only RE2 knows (``\\pL``, ``\\z``, ``\\Q...\\E``, ``\\x{...}``,
flags in mid-pattern like ``a(?i)b``) is refused as an invalid regex; POSIX classes
(``[[:alpha:]]``, which ``re`` reads differently), possessive quantifiers and atomic
groups are refused too. ``\\d``, ``\\w``, ``\\s`` and ``\\b`` match Unicode in ``re``,
ASCII in RE2.

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
import string
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainSerializer, model_validator

try:  # Python 3.11+
    from re import _constants as _sre
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover
    import sre_constants as _sre  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_MAX_REGEX = 500
MAX_MATCH_INPUT = 2048  # characters of a value a regex is matched against
_MAX_UNBOUNDED = 2  # unbounded quantifiers per regex
_BIG = 16  # a quantifier allowing more repeats than this counts as unbounded

_REPEATS = {_sre.MAX_REPEAT, _sre.MIN_REPEAT, getattr(_sre, "POSSESSIVE_REPEAT", _sre.MAX_REPEAT)}
_BACKREFS = {_sre.GROUPREF, _sre.GROUPREF_EXISTS}
_LOOKAROUND = {_sre.ASSERT, _sre.ASSERT_NOT}
_NOT_RE2 = {getattr(_sre, "POSSESSIVE_REPEAT", None), getattr(_sre, "ATOMIC_GROUP", None)} - {None}
_POSIX_CLASS = re.compile(r"\[:\^?[a-z]+:\]")  # [[:alpha:]] in RE2; re reads it otherwise

Triple = tuple[str, str, str]  # (name, op, value): what the parsers return


class MatcherError(ValueError):
    """Text that is not matcher syntax; the message is Alertmanager's."""


# --------------------------------------------------------------------------- regex safety


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
    if _POSIX_CLASS.search(pattern):
        raise ValueError("bad regex: POSIX classes like [[:alpha:]] are not supported; write [a-zA-Z]")
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
                raise ValueError(
                    "unsafe regex: lookahead and lookbehind are not allowed (RE2 syntax, as in Alertmanager)"
                )
            if op in _NOT_RE2:
                raise ValueError("bad regex: possessive quantifiers and atomic groups are not RE2 syntax")
            if op in _REPEATS:
                lo, hi, sub = av
                if hi > 1 and repeated:
                    raise ValueError(
                        "unsafe regex: nested quantifiers (like (a+)+) can take exponential time; "
                        "write the repetition once"
                    )
                if hi > 1 and len(set(sub.getwidth())) > 1:
                    raise ValueError(
                        "unsafe regex: a repeated group that can match different lengths "
                        "(like (a|aa)+ or (ab?)+) can take exponential time"
                    )
                if hi > _BIG:
                    unbounded += 1
                walk(sub, repeated or hi > 1)
            elif op == _sre.BRANCH:
                branches = av[1]
                if repeated:
                    firsts = [_first_literal(b) for b in branches]
                    if None in firsts or len(set(firsts)) != len(firsts):
                        raise ValueError(
                            "unsafe regex: a repeated alternation whose branches can start alike "
                            "(like (a|aa)+) can take exponential time"
                        )
                for b in branches:
                    walk(b, repeated)
            elif op == _sre.SUBPATTERN:
                walk(av[-1], repeated)

    walk(tree, False)
    if unbounded > _MAX_UNBOUNDED:
        raise ValueError(
            f"unsafe regex: more than {_MAX_UNBOUNDED} unbounded quantifiers (like .*a.*b.*c) can take "
            "polynomial time; split it into several matchers"
        )


# --------------------------------------------------------------------------- Go helpers

# Go's unicode.IsSpace (str.isspace() also counts \x1c-\x1f) and RE2's \s
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_RE2_SPACE = "\t\n\f\r "
_RESERVED = frozenset(_GO_SPACE + "{}!=~,\\\"'`")  # isReserved in matcher/parse/lexer.go
_REGEX_OPS = ("=~", "!~")


def _valid_utf8(s: str) -> bool:
    """False if ``s`` holds lone surrogates: how invalid UTF-8 bytes reach a Python str."""
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _rune(ch: str) -> str:
    """The character as Go's range over a string yields it: a bad byte is U+FFFD."""
    return "\ufffd" if "\ud800" <= ch <= "\udfff" else ch


def _regex_error(value: str) -> str | None:
    """Go's error for a regex NewMatcher cannot compile (``^(?:value)$``), or None.

    ``re`` decides; the common errors are worded as Go words them."""
    if _POSIX_CLASS.search(value):  # re would warn; check_regex refuses it, saying why
        return None
    try:
        re.compile(value)
        return None
    except (RecursionError, OverflowError) as exc:
        return f"error parsing regexp: {exc}: `{value}`"
    except re.error as exc:
        whole, pos = f"^(?:{value})$", (exc.pos or 0) + 4
        if exc.msg == "unterminated character set":
            return f"error parsing regexp: missing closing ]: `{whole[pos:]}`"
        if exc.msg.startswith("missing ), unterminated subpattern"):
            return f"error parsing regexp: missing closing ): `{whole}`"
        if exc.msg == "unbalanced parenthesis":
            return f"error parsing regexp: unexpected ): `{whole}`"
        if exc.msg == "nothing to repeat":
            return f"error parsing regexp: missing argument to repetition operator: `{whole[pos]}`"
        if exc.msg.startswith("bad escape "):
            return f"error parsing regexp: invalid escape sequence: `{exc.msg.split()[2]}`"
        return f"error parsing regexp: {exc.msg}: `{value}`"


def _new_matcher(op: str, name: str, value: str) -> Triple:
    """labels.NewMatcher: a regex must compile."""
    if op in _REGEX_OPS and (err := _regex_error(value)):
        raise MatcherError(err)
    return name, op, value


_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34}
_HEX_DIGITS = {"x": 2, "u": 4, "U": 8}


def go_unquote(s: str) -> str:
    """Go's ``strconv.Unquote`` of a double-quoted string, whose result must be UTF-8."""
    syntax = MatcherError("invalid syntax")
    if len(s) < 2 or s[0] != '"':
        raise syntax
    out, i = bytearray(), 1
    while i < len(s) and s[i] != '"':
        c = s[i]
        if c == "\n":
            raise syntax
        i += 1
        if c != "\\":
            out += _rune(c).encode()
            continue
        if i >= len(s):
            raise syntax
        c, i = s[i], i + 1
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif c in _HEX_DIGITS:
            digits, i = s[i : i + _HEX_DIGITS[c]], i + _HEX_DIGITS[c]
            if len(digits) < _HEX_DIGITS[c] or not set(digits) <= set(string.hexdigits):
                raise syntax
            v = int(digits, 16)
            if c == "x":
                out.append(v)  # a byte, maybe not UTF-8 on its own
            elif v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
                raise syntax
            else:
                out += chr(v).encode()
        elif c in "01234567":
            digits, i = c + s[i : i + 2], i + 2
            if len(digits) < 3 or not set(digits) <= set("01234567") or int(digits, 8) > 255:
                raise syntax
            out.append(int(digits, 8))
        else:  # \' and anything else
            raise syntax
    if i != len(s) - 1:  # no closing quote, or text after it
        raise syntax
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        raise MatcherError("quoted string contains invalid UTF-8 code points") from None


def go_quote(s: str) -> str:
    """Go's ``strconv.Quote``."""
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():  # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols, ' '
            out.append(ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{ord(_rune(ch)):04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out) + '"'


# --------------------------------------------------------------------------- the classic parser

# pkg/labels/parse.go's `^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s).*?)\s*$`, without its
# value part: `(.*?)\s*$` is the rest with RE2 spaces stripped from its end (and is quadratic in re)
_CLASSIC = re.compile(r"[\t\n\f\r ]*([a-zA-Z_:][a-zA-Z0-9_:]*)[\t\n\f\r ]*(=~|=|!=|!~)[\t\n\f\r ]*")


def classic_matcher(text: str) -> Triple:
    """labels.ParseMatcher: one matcher; an unquoted value runs to the end of the text."""
    m = _CLASSIC.match(text)
    if not m:
        raise MatcherError(f"bad matcher format: {text}")
    raw = text[m.end() :].rstrip(_RE2_SPACE)
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    if not _valid_utf8(body):
        raise MatcherError(f"matcher value not valid UTF-8: {raw}")
    value, escaped = [], False
    for i, ch in enumerate(body):
        if escaped:  # \n, \" and \\ are escapes; any other \ is literal
            escaped = False
            value.append({"n": "\n", '"': '"', "\\": "\\"}.get(ch, "\\" + ch))
        elif ch == "\\":
            if i < len(body) - 1:
                escaped = True
            else:
                value.append(ch)
        elif ch == '"':
            if not quoted or i < len(body) - 1:
                raise MatcherError(f"matcher value contains unescaped double quote: {raw}")
            quoted = False
        else:
            value.append(ch)
    if quoted:
        raise MatcherError(f"matcher value contains unescaped double quote: {raw}")
    return _new_matcher(m[2], m[1], "".join(value))


def classic_matchers(text: str) -> list[Triple]:
    """labels.ParseMatchers: matchers separated by commas outside double quotes, in optional
    braces, with an optional trailing comma."""
    text = text.removeprefix("{").removesuffix("}")
    tokens, token, inside, escaped = [], [], False, False
    for ch in text:
        if ch == ",":
            if not inside:
                tokens.append("".join(token))
                token = []
                continue
        elif ch == '"':
            if not escaped:
                inside = not inside
            else:
                escaped = False
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(_rune(ch))
    if last := "".join(token).strip(_GO_SPACE):
        tokens.append(last)
    return [classic_matcher(t) for t in tokens]


# --------------------------------------------------------------------------- the UTF-8 parser

# token kinds (matcher/parse/token.go)
EOF, OPEN, CLOSE, COMMA, EQ, NE, RE, NRE, QUOTED, UNQUOTED = range(10)
_OP_OF = {EQ: "=", NE: "!=", RE: "=~", NRE: "!~"}


class _Token:
    def __init__(self, kind: int = EOF, value: str = "", start: int = 0, end: int = 0):
        # start, end: offsets in the text; Go's columns (runes) are the same numbers in a str
        self.kind, self.value, self.start, self.end = kind, value, start, end

    def unquote(self) -> str:
        return go_unquote(self.value) if self.kind == QUOTED else self.value


class _Lexer:
    """matcher/parse/lexer.go: scan() gives the next token, or the error that stops the input."""

    def __init__(self, text: str):
        self.text, self.err = text, None
        self.start = self.pos = self.width = 0

    def next(self) -> str | None:
        if self.pos >= len(self.text):
            self.width = 0
            return None
        self.width, self.pos = 1, self.pos + 1
        return self.text[self.pos - 1]

    def rewind(self) -> None:
        self.pos -= self.width

    def emit(self, kind: int) -> _Token:
        t = _Token(kind, self.text[self.start : self.pos], self.start, self.pos)
        self.start = self.pos
        return t

    def accept(self, valid: str) -> bool:
        r = self.next()
        if r is not None and r in valid:
            return True
        self.rewind()
        return False

    def expected(self, valid: str) -> MatcherError:
        s, e = self.start, self.pos
        if e >= len(self.text):
            return MatcherError(f"{s}:{e}: unexpected end of input, expected one of '{valid}'")
        return MatcherError(f"{s}:{e}: {self.text[s:e]}: expected one of '{valid}'")

    def expect(self, valid: str) -> MatcherError | None:
        return None if self.accept(valid) else self.expected(valid)

    def scan(self) -> tuple[_Token, MatcherError | None]:
        if self.err:
            return _Token(), self.err
        while (r := self.next()) is not None:
            if r in "{},":
                return self.emit({"{": OPEN, "}": CLOSE, ",": COMMA}[r]), None
            if r in "=!":
                self.rewind()
                t, self.err = self.scan_operator()
                return t, self.err
            if r == '"':
                self.rewind()
                t, self.err = self.scan_quoted()
                return t, self.err
            if r not in _RESERVED:
                self.rewind()
                return self.scan_unquoted(), None
            if r in _GO_SPACE:
                self.start = self.pos  # skip
                continue
            s, e = self.start, self.pos
            self.err = MatcherError(f"{s}:{e}: {self.text[s:e]}: invalid input")
            return _Token(), self.err
        return _Token(), self.err

    def scan_operator(self) -> tuple[_Token, MatcherError | None]:
        if self.accept("!"):
            if self.accept("="):
                return self.emit(NE), None
            if self.accept("~"):
                return self.emit(NRE), None
            return _Token(), self.expected("=~")
        if self.accept("="):
            return self.emit(RE if self.accept("~") else EQ), None
        return _Token(), self.expected("!=")

    def scan_quoted(self) -> tuple[_Token, MatcherError | None]:
        if err := self.expect('"'):
            return _Token(), err
        escaped = False
        while (r := self.next()) is not None:
            if escaped:
                escaped = False
            elif r == "\\":
                escaped = True
            elif r == '"':
                self.rewind()
                break
        if self.expect('"'):
            s, e = self.start, self.pos
            return _Token(), MatcherError(f'{s}:{e}: {self.text[s:e]}: missing end "')
        return self.emit(QUOTED), None

    def scan_unquoted(self) -> _Token:
        while (r := self.next()) is not None:
            if r in _RESERVED:
                self.rewind()
                break
        return self.emit(UNQUOTED)

    def peek(self) -> tuple[_Token, MatcherError | None]:
        saved = self.start, self.pos, self.width
        try:
            return self.scan()
        finally:
            self.start, self.pos, self.width = saved


_END = MatcherError("end of input")  # errEOF: compared by identity, as errors.Is does


class _Parser:
    """matcher/parse/parse.go: a state machine over the lexer's tokens."""

    def __init__(self, text: str):
        self.lexer, self.matchers, self.open_brace = _Lexer(text), [], False

    def parse(self) -> list[Triple]:
        state = self.open_brace_  # each state returns the next one, or None at the end
        while state is not None:
            state, err = state()
            if err:
                raise MatcherError(str(err))
        return self.matchers

    # token helpers: EOF is never an accepted kind; it is the error _END
    def expect_peek(self, *kinds: int) -> tuple[_Token, MatcherError | None]:
        t, err = self.lexer.peek()
        if err:
            return t, err
        if t.kind == EOF:
            return t, _END
        if t.kind not in kinds:
            return t, MatcherError(f"{t.start}:{t.end}: unexpected {t.value}")
        return t, None

    def expect(self, *kinds: int) -> tuple[_Token, MatcherError | None]:
        t, err = self.expect_peek(*kinds)
        if not err:
            self.lexer.scan()
        return t, err

    def accept_peek(self, *kinds: int) -> tuple[bool, MatcherError | None]:
        t, err = self.lexer.peek()
        if err:
            return False, err
        if t.kind == EOF:
            return False, _END
        return t.kind in kinds, None

    def accept(self, *kinds: int) -> tuple[bool, MatcherError | None]:
        ok, err = self.accept_peek(*kinds)
        if ok:
            self.lexer.scan()
        return ok, err

    # states
    def open_brace_(self):
        self.open_brace, err = self.accept(OPEN)
        if err:
            return (self.eof_, None) if err is _END else (None, err)
        close, err = self.accept_peek(CLOSE)
        if err:  # nothing after the open brace: close_brace_ says a close brace is missing
            return (self.close_brace_, None) if err is _END else (None, err)
        return (self.close_brace_ if close else self.matcher_), None

    def close_brace_(self):
        _, err = self.expect(CLOSE)
        end = self.lexer.pos
        if self.open_brace and err:
            return None, MatcherError(f"0:{end}: {err}: expected close brace")
        if not self.open_brace and not err:
            return None, MatcherError(f"0:{end}: }}: expected opening brace")
        return self.eof_, None

    def matcher_(self):
        t, err = self.expect(QUOTED, UNQUOTED)
        if err:
            return None, MatcherError(f"{err}: expected label name")
        try:
            name = t.unquote()
        except MatcherError:
            return None, MatcherError(f"{t.start}:{t.end}: {t.value}: invalid input")
        t, err = self.expect(EQ, NE, RE, NRE)
        if err:
            return None, MatcherError(f"{err}: expected an operator such as '=', '!=', '=~' or '!~'")
        op = _OP_OF[t.kind]
        t, err = self.expect(UNQUOTED, QUOTED)
        if err:
            return None, MatcherError(f"{err}: expected label value")
        try:
            value = t.unquote()
        except MatcherError:
            return None, MatcherError(f"{t.start}:{t.end}: {t.value}: invalid input")
        try:
            self.matchers.append(_new_matcher(op, name, value))
        except MatcherError as exc:
            return None, MatcherError(f"failed to create matcher: {exc}")
        return self.end_of_matcher_, None

    def end_of_matcher_(self):
        t, err = self.expect_peek(COMMA, CLOSE)
        if err:  # at the end of the input, an open brace still needs its close brace
            return (
                (self.close_brace_, None)
                if err is _END
                else (None, MatcherError(f"{err}: expected a comma or close brace"))
            )
        return (self.comma_ if t.kind == COMMA else self.close_brace_), None

    def comma_(self):
        _, err = self.expect(COMMA)
        if err:
            return None, MatcherError(f"{err}: expected a comma")
        t, err = self.expect_peek(CLOSE, UNQUOTED, QUOTED)
        if err:
            return (
                (self.close_brace_, None)
                if err is _END
                else (None, MatcherError(f"{err}: expected a matcher or close brace after comma"))
            )
        return (self.close_brace_ if t.kind == CLOSE else self.matcher_), None

    def eof_(self):
        t, err = self.lexer.scan()
        if err:
            return None, MatcherError(f"{err}: expected end of input")
        if t.kind != EOF:
            return None, MatcherError(f"{t.start}:{t.end}: {t.value}: expected end of input")
        return None, None


def utf8_matchers(text: str) -> list[Triple]:
    """parse.Matchers: zero or more matchers; quoted names and values are Go strings."""
    return _Parser(text).parse()


def utf8_matcher(text: str) -> Triple:
    """parse.Matcher: exactly one matcher."""
    found = utf8_matchers(text)
    if len(found) != 1:
        raise MatcherError("no matchers" if not found else f"expected 1 matcher, found {len(found)}")
    return found[0]


# --------------------------------------------------------------------------- fallback mode


def fallback_matchers(text: str) -> list[Triple]:
    """compat.FallbackMatchersParser: the classic parser's result if it has one (it wins
    a disagreement), else the UTF-8 parser's; if both fail, the classic error."""
    try:
        return classic_matchers(text)
    except MatcherError as exc:
        classic_error = exc
    try:
        return utf8_matchers(text)
    except MatcherError:
        raise classic_error from None


def fallback_matcher(text: str) -> Triple:
    """compat.FallbackMatcherParser: one matcher, without braces."""
    if text.startswith("{") or text.endswith("}"):
        raise MatcherError(f"unexpected open or close brace: {text}")
    try:
        return classic_matcher(text)
    except MatcherError as exc:
        classic_error = exc
    try:
        return utf8_matcher(text)
    except MatcherError:
        raise classic_error from None


# --------------------------------------------------------------------------- the model


class Matcher(BaseModel):
    """``name="value"``, ``name!="value"``, ``name=~"regex"``, ``name!~"regex"`` (anchored).

    Validates from a dict, or from the text of one matcher."""

    model_config = ConfigDict(frozen=True)

    name: str
    op: Literal["=", "!=", "=~", "!~"]
    value: str

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, v: Any) -> Any:
        return cls.parse(v).model_dump() if isinstance(v, str) else v

    @model_validator(mode="after")
    def _safe_regex(self) -> Matcher:
        if self.op in _REGEX_OPS:
            check_regex(self.value)
        return self

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """Exactly one matcher (no braces), as amtool's ``silence add`` parses each one."""
        return _build(text, lambda t: [fallback_matcher(t)])[0]

    def matches(self, value: str) -> bool:
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        hit = re.fullmatch(self.value, value[:MAX_MATCH_INPUT]) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        """As Alertmanager prints it (``Matcher.String()``): it parses back to the same matcher."""
        if any(ch in _RESERVED for ch in self.name):
            return f"{go_quote(self.name)}{self.op}{go_quote(self.value)}"
        escaped = self.value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'


def _build(text: Any, parse: Callable[[str], list[Triple]]) -> list[Matcher]:
    if not isinstance(text, str):
        raise MatcherError(f'a matcher is a string like name="value", not {type(text).__name__}')
    try:
        found = parse(text)
    except MatcherError as exc:
        raise MatcherError(f"bad matcher {text!r}: {exc}") from None
    for _, op, value in found:
        if op in _REGEX_OPS:
            try:
                check_regex(value)
            except ValueError as exc:  # "unsafe regex in 'country=~...': ..."
                raise ValueError(str(exc).replace(" regex: ", f" regex in {text[:100]!r}: ", 1)) from None
    return [Matcher(name=name, op=op, value=value) for name, op, value in found]


def parse_matchers(text: str) -> list[Matcher]:
    """All the matchers in one string (``'{foo="bar", baz=~"q.*"}'``), as a config's list holds them."""
    return _build(text, fallback_matchers)


def matches_all(matchers: list[Matcher], labels: dict[str, str]) -> bool:
    return all(m.matches(labels.get(m.name, "")) for m in matchers)


def _one_item(v: Any) -> Any:
    """One item of a config's list: a string of one or more matchers, or a dict."""
    return [v] if isinstance(v, (Matcher, dict)) else parse_matchers(v)


def _flatten(items: list[list[Matcher]]) -> list[Matcher]:
    return [m for item in items for m in item]


# a list of matchers written as strings in YAML, each string one or more matchers:
# ['app_id="doubao"', 'country=~"cn|us"'], ['{app_id="doubao", country=~"cn|us"}'];
# each item is validated on its own, so an error names the item (matchers[1]) and its line
Matchers = Annotated[
    list[Annotated[list[Matcher], BeforeValidator(_one_item)]],
    AfterValidator(_flatten),
    PlainSerializer(lambda ms: [m.model_dump() for m in ms], return_type=list),
]
