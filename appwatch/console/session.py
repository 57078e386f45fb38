"""The console's sessions: a login form sets a signed cookie, and that cookie stands in for a
bearer token (``core.auth.Caller``) on every route, pages and API alike.

- The cookie (``appwatch_session``) is HttpOnly, SameSite=Strict, Path=/, signed with
  ``APPWATCH_CONSOLE_SECRET`` (itsdangerous) and good for ``APPWATCH_CONSOLE_SESSION_HOURS``.
  It holds the user's name, scope and a random CSRF token; nothing is kept server-side,
  so any worker with the same secret accepts it.
- A change made with the cookie needs the CSRF token: the ``X-CSRF-Token`` header (the
  console's script sends it) or the form's ``csrf_token`` field. A cross-site ``Origin``
  is refused too.
- The login form has its own CSRF token, in a short-lived ``appwatch_login`` cookie.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from core.auth import GRANTS, Caller, ConsoleUser

log = logging.getLogger(__name__)

COOKIE = "appwatch_session"
LOGIN_COOKIE = "appwatch_login"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Session:
    user: str
    scope: str
    csrf: str


class Sessions:
    def __init__(self, users: list[ConsoleUser], secret: str | None, hours: float = 12, secure: bool = False) -> None:
        if not secret:
            secret = secrets.token_urlsafe(32)
            if users:
                log.warning("APPWATCH_CONSOLE_SECRET is not set: sessions end when this process does")
        self.users = {u.name: u for u in users}
        self.max_age, self.secure = int(hours * 3600), secure
        self._signer = URLSafeTimedSerializer(secret, salt="appwatch-session")
        self._login = URLSafeTimedSerializer(secret, salt="appwatch-login")

    @classmethod
    def from_settings(cls, s) -> Sessions:
        secret = s.console_secret.get_secret_value() if s.console_secret else None
        return cls(s.console_users, secret, s.console_session_hours, s.console_secure_cookie)

    def login(self, name: str, password: str) -> str | None:
        """The cookie value for a right name and password, else None."""
        user = self.users.get(name)
        dummy = ConsoleUser(name="x", password="-")
        ok = (user or dummy).verify(password)  # a name that is not known costs the same
        if user is None or not ok:
            return None
        return self._signer.dumps({"u": user.name, "s": user.scope, "c": secrets.token_urlsafe(24)})

    def load(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            d = self._signer.loads(cookie, max_age=self.max_age)
        except BadSignature:
            return None
        user = self.users.get(d.get("u"))
        if user is None or user.scope != d.get("s"):
            return None  # the user was removed, or their scope changed
        return Session(user.name, user.scope, d["c"])

    def login_token(self) -> tuple[str, str]:
        """(cookie value, form field) for the login form's CSRF check."""
        nonce = secrets.token_urlsafe(24)
        return self._login.dumps(nonce), nonce

    def login_token_ok(self, cookie: str | None, field: str | None) -> bool:
        try:
            nonce = self._login.loads(cookie or "", max_age=3600)
        except BadSignature:
            return False
        return bool(field) and hmac.compare_digest(str(nonce), field)

    def caller(self, request: Any, form_token: str | None = None) -> Caller:
        """Who makes ``request`` (aiohttp's): its bearer token, or its session cookie."""
        auth = request.headers.get("Authorization")
        session = None if auth is not None else self.load(request.cookies.get(COOKIE))
        if session is None:
            return Caller(auth)
        given = request.headers.get("X-CSRF-Token") or form_token or ""
        csrf_ok = request.method in SAFE or (
            hmac.compare_digest(given.encode(), session.csrf.encode()) and same_origin(request)
        )
        return Caller(None, GRANTS[session.scope], csrf_ok)

    def set_cookie(self, response: Any, value: str) -> None:
        response.set_cookie(
            COOKIE, value, max_age=self.max_age, httponly=True, samesite="Strict", secure=self.secure, path="/"
        )


def same_origin(request: Any) -> bool:
    """No ``Origin`` (an older browser, a form post some send without it), or this host's."""
    origin = request.headers.get("Origin")
    if not origin or origin == "null":
        return origin is None
    return origin.split("://", 1)[-1] == request.host
