"""Keep secrets out of logs and metric labels.

* ``redact_url(url)``: a URL safe to log or use as a metric label: scheme, host
  and port kept; user info dropped; every query value, the fragment and the
  secret part of the path replaced by ``***``.  Never raises (an unparsable
  URL becomes ``***``).
* ``RedactingFilter(secrets)``: a ``logging.Filter`` that replaces known secret
  strings (tokens, webhook secrets, receiver URLs) in log records.

Reading a secret (``secret_from``, ``SecretError``) is ``core.secrets``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

__all__ = ["MASK", "RedactingFilter", "looks_secret", "redact_url"]

MASK = "***"

# Path segments after which the rest of the path is the credential.
_MARKERS = frozenset(
    {
        "hooks",
        "webhooks",
        "webhookb2",
        "token",
        "tokens",
        "secret",
        "secrets",
        "key",
        "keys",
        "apikey",
        "api-key",
        "api_key",
    }
)
_HOST_MARKERS = {  # host (or parent domain) -> extra markers
    "hooks.slack.com": frozenset({"services", "triggers", "workflows"}),
    "discord.com": frozenset({"webhooks"}),
    "discordapp.com": frozenset({"webhooks"}),
    "webhook.office.com": frozenset({"webhookb2"}),
    "outlook.office.com": frozenset({"webhook", "webhookb2"}),
}
_TOKEN_PREFIX = re.compile(
    r"^(whsec_|xox[abposre]-|xapp-|sk-|sk_|rk_|pk_|ghp_|gho_|ghs_|github_pat_|glpat-|AKIA|ASIA|eyJ|bot\d+:)"
)


def looks_secret(segment: str) -> bool:
    """Heuristic: does a path segment (or bare query key) look like a token?"""
    s = unquote(segment)
    if not s:
        return False
    if _TOKEN_PREFIX.match(s):
        return True
    has_digit = any(c.isdigit() for c in s)
    has_alpha = any(c.isalpha() for c in s)
    if len(s) >= 32:
        return True
    if len(s) >= 16 and (has_digit or not s.isalpha()):
        return True  # long id / uuid-ish / base64-ish
    if len(s) >= 8 and has_digit and any(c.islower() for c in s) and any(c.isupper() for c in s):
        return True  # short mixed-case token like "aB3dE5fG"
    return has_digit and has_alpha and len(s) >= 12


def _markers(host: str) -> frozenset[str]:
    extra = frozenset()
    for domain, names in _HOST_MARKERS.items():
        if host == domain or host.endswith("." + domain):
            extra |= names
    return _MARKERS | extra


def _cut(host: str, path: str) -> int | None:
    """Index into ``path.split('/')`` from which the path is secret, or None."""
    segments = path.split("/")
    markers = _markers(host)
    for i, seg in enumerate(segments):
        if looks_secret(seg):
            return i
        if unquote(seg).lower() in markers and any(segments[i + 1 :]):
            return i + 1
    return None


def redact_url(url: Any) -> str:
    """``https://u:p@hooks.slack.com/services/T0/B0/XX?a=1`` -> ``https://hooks.slack.com/services/***?a=***``."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return MASK
    if not parts.scheme or not host:
        return MASK
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    path = parts.path
    cut = _cut(host, path)
    if cut is not None:
        path = "/".join(path.split("/")[:cut] + [MASK])
    out = f"{parts.scheme.lower()}://{netloc}{path}"
    if parts.query:
        items = []
        for item in parts.query.split("&"):
            key, sep, _ = item.partition("=")
            if looks_secret(key):
                key = MASK
            items.append(f"{key}={MASK}" if sep else key)
        out += "?" + "&".join(items)
    if parts.fragment:
        out += "#" + MASK
    return out


def _url_pieces(url: str) -> list[str]:
    """The secret-bearing pieces of a URL, so they are caught when logged on their own."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        user, password = parts.username or "", parts.password or ""
        # a user name alone is usually a token (https://TOKEN@host); otherwise only if it looks like one
        pieces = [password, user if (not password or looks_secret(user)) else ""]
    except ValueError:
        return []
    if not parts.scheme or not host:
        return []
    cut = _cut(host, parts.path)
    if cut is not None:
        segments = parts.path.split("/")
        pieces.append("/".join(segments[cut:]))
        pieces.extend(s for s in segments[cut:] if looks_secret(s))
    for item in parts.query.split("&"):
        key, sep, value = item.partition("=")
        pieces.append(value if sep else (key if looks_secret(key) else ""))
    if parts.fragment:
        pieces.append(parts.fragment)
    return [p for p in pieces if p]


_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Replace known secrets with ``***`` in log records.

    The message is rendered (``msg % args``) and then redacted, so a secret is
    caught wherever it ends up: in ``msg``, in an argument, inside an
    exception's ``str()`` or a URL object's ``repr``.  The traceback of
    ``exc_info`` is rendered and redacted into ``exc_text`` (and ``exc_info``
    cleared, so no handler re-renders it unredacted); ``stack_info`` and
    string ``extra=`` fields are redacted too.

    For a URL secret, its password, query values and secret path tail are
    registered as well.  URL-encoded forms of every secret are matched.
    Secrets shorter than ``min_length`` are ignored (they would mangle logs).

    Attach it to *handlers* (``handler.addFilter``): a filter on a logger only
    sees records logged on that exact logger, not on its children.
    """

    def __init__(
        self, secrets: Iterable[str | None] = (), *, mask: str = MASK, min_length: int = 4, name: str = ""
    ) -> None:
        super().__init__(name)
        self.mask = mask
        self.min_length = min_length
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: str | None) -> None:
        """Register more secrets (e.g. after a config reload)."""
        new = set(self._secrets)
        for secret in secrets:
            if not secret:
                continue
            variants = {secret, quote(secret, safe=""), quote_plus(secret, safe="")}
            if "://" in secret:
                for piece in _url_pieces(secret):
                    variants |= {piece, quote(piece, safe=""), unquote(piece)}
            new |= {v for v in variants if len(v) >= self.min_length}
        self._secrets = new
        ordered = sorted(new, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def redact(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(self.mask, text) if pattern is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001  bad format args: still never let the raw args through
            message = f"{record.msg} {record.args!r}"
        record.msg = self.redact(message)
        record.args = ()
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _RECORD_ATTRS and isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True
