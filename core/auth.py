"""Who may call appwatch's HTTP APIs: bearer tokens with a scope, one check for every surface
(the worker's API, ``appwatch serve``, the console).

- ``write`` may do everything: change state (add or expire a silence), read, post events.
  ``read`` may only read; ``ingest`` (``APPWATCH_INGEST_TOKEN``: a pusher's token) may only
  post events. A route asks for one scope; a known token without it gets 403.
- No token, a header not exactly ``Bearer <token>``, or an unknown token: 401 with
  ``WWW-Authenticate: Bearer``.
  A known token without the scope: 403. Tokens are compared in constant time, against
  every configured token, so the time taken does not tell which one nearly matched.
- ``anonymous_read``: reading without a token, if the operator turns it on.
- A console session (``appwatch.console.session``) stands in for a token: a ``Caller``
  with the signed-in user's scopes. A header, when sent, wins over the cookie. A change
  made through a session without its CSRF token is refused with 403.
- ``/metrics``, ``/healthz`` and ``/readyz`` are not routes of this module: they stay open.

Nothing here logs or returns a token.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated, Literal, NamedTuple

import bcrypt
from pydantic import BaseModel, Field, SecretStr

Scope = Literal["read", "write", "ingest"]
GRANTS = {"write": frozenset({"write", "read", "ingest"}), "read": frozenset({"read"}), "ingest": frozenset({"ingest"})}


class Caller(NamedTuple):
    """Who calls: the ``Authorization`` header, or a console session's scopes."""

    authorization: str | None = None
    session: frozenset[str] | None = None  # a signed-in console user's scopes
    csrf_ok: bool = True  # the session's CSRF token came with the request (or none needed)


class Denied(NamedTuple):
    status: int  # 401 or 403
    message: str

    @property
    def headers(self) -> dict[str, str]:
        """A 401 says which scheme to use (RFC 6750); a 403 needs nothing more."""
        return {"WWW-Authenticate": "Bearer"} if self.status == 401 else {}


@dataclass(frozen=True)
class Tokens:
    write: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    ingest: tuple[str, ...] = ()
    anonymous_read: bool = False

    @classmethod
    def from_settings(cls, s) -> Tokens:
        """``APPWATCH_API_WRITE_TOKENS``, ``APPWATCH_API_READ_TOKENS``, ``APPWATCH_INGEST_TOKEN``
        and ``APPWATCH_API_ANONYMOUS_READ``."""
        return cls(
            write=tuple(t.get_secret_value() for t in s.api_write_tokens),
            read=tuple(t.get_secret_value() for t in s.api_read_tokens),
            ingest=(s.ingest_token.get_secret_value(),) if s.ingest_token else (),
            anonymous_read=s.api_anonymous_read,
        )

    def scopes_of(self, authorization: str | None) -> frozenset[str]:
        """What the ``Authorization`` header's bearer token may do (empty: nothing known)."""
        if not authorization or not authorization.startswith("Bearer "):
            return frozenset()  # exactly "Bearer <token>", as ingest has always asked
        given = authorization[len("Bearer ") :].encode("utf-8", "surrogateescape")
        found = frozenset()
        for kind in ("write", "read", "ingest"):  # every list compared: no early exit
            if _any_equal(given, getattr(self, kind)):
                found |= GRANTS[kind]
        return found

    def check(self, who: Caller | str | None, need: Scope) -> Denied | None:
        """None if the request may go on; else why not. ``who``: a ``Caller``, or just the
        ``Authorization`` header."""
        if need == "read" and self.anonymous_read:
            return None
        who = who if isinstance(who, Caller) else Caller(who)
        if who.authorization is None and who.session:
            if need != "read" and not who.csrf_ok:
                return Denied(403, "the console's CSRF token is missing or wrong")
            scopes = who.session
        else:
            scopes = self.scopes_of(who.authorization)
        if not scopes:
            return Denied(401, "a valid bearer token is required")
        if need not in scopes:
            return Denied(403, f"this token may not {ACTIONS[need]}")
        return None


ACTIONS = {"read": "read", "write": "change state", "ingest": "post events"}


def _any_equal(given: bytes, tokens: tuple[str, ...]) -> bool:
    hit = False
    for t in tokens:  # every one compared: no early exit
        hit |= hmac.compare_digest(given, t.encode())
    return hit


class ConsoleUser(BaseModel):
    """One login of the console (``APPWATCH_CONSOLE_USERS``, a JSON list of these). The
    password is a bcrypt hash (``$2b$...``, as ``htpasswd -nbB`` makes) or, for a demo,
    the password itself."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9._@-]{1,64}$")]
    password: SecretStr
    scope: Literal["read", "write"] = "read"

    def verify(self, given: str) -> bool:
        want = self.password.get_secret_value().encode()
        if want.startswith((b"$2a$", b"$2b$", b"$2y$")):
            try:
                return bcrypt.checkpw(given.encode(), want)
            except ValueError:
                return False
        return hmac.compare_digest(given.encode(), want)

    @property
    def scopes(self) -> frozenset[str]:
        return GRANTS[self.scope]
