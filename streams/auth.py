"""Who may call appwatch's HTTP APIs: bearer tokens with a scope, one check for every surface
(the worker's API, ``appwatch serve``, the console).

- ``write`` may change state (post events, add or expire a silence) and read; ``read``
  may only read. A route asks for one scope.
- No token, a header not exactly ``Bearer <token>``, or an unknown token: 401 with
  ``WWW-Authenticate: Bearer``.
  A known token without the scope: 403. Tokens are compared in constant time, against
  every configured token, so the time taken does not tell which one nearly matched.
- ``anonymous_read``: reading without a token, if the operator turns it on.
- ``/metrics``, ``/healthz`` and ``/readyz`` are not routes of this module: they stay open.

Nothing here logs or returns a token.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal, NamedTuple

Scope = Literal["read", "write"]


class Denied(NamedTuple):
    status: int  # 401 or 403
    message: str


@dataclass(frozen=True)
class Tokens:
    write: tuple[str, ...] = ()
    read: tuple[str, ...] = ()
    anonymous_read: bool = False

    @classmethod
    def from_settings(cls, s) -> "Tokens":
        """``APPWATCH_API_WRITE_TOKENS``, ``APPWATCH_API_READ_TOKENS`` (and the ingest token,
        a write token of ``appwatch serve``), ``APPWATCH_API_ANONYMOUS_READ``."""
        write = [t.get_secret_value() for t in s.api_write_tokens]
        return cls(write=tuple(write), read=tuple(t.get_secret_value() for t in s.api_read_tokens),
                   anonymous_read=s.api_anonymous_read)

    def with_write(self, token: str | None) -> "Tokens":
        return self if not token else Tokens((*self.write, token), self.read, self.anonymous_read)

    def scope_of(self, authorization: str | None) -> Scope | None:
        """The scope the ``Authorization`` header's bearer token has; None if it has none."""
        if not authorization or not authorization.startswith("Bearer "):
            return None  # exactly "Bearer <token>", as ingest has always asked
        given = authorization[len("Bearer "):].encode("utf-8", "surrogateescape")
        hit_write = _any_equal(given, self.write)
        hit_read = _any_equal(given, self.read)
        return "write" if hit_write else "read" if hit_read else None

    def check(self, authorization: str | None, need: Scope) -> Denied | None:
        """None if the request may go on; else why not."""
        if need == "read" and self.anonymous_read:
            return None
        scope = self.scope_of(authorization)
        if scope is None:
            return Denied(401, "a valid bearer token is required")
        if need == "write" and scope != "write":
            return Denied(403, "this token may only read")
        return None


def _any_equal(given: bytes, tokens: tuple[str, ...]) -> bool:
    hit = False
    for t in tokens:  # every one compared: no early exit
        hit |= hmac.compare_digest(given, t.encode())
    return hit
