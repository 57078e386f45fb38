"""Connector errors. ``.reason`` is a short, low-cardinality metric label.

SourceError
├── FetchError      HTTP status, timeout or connection failure (after retries)
├── PayloadError    the body is not the shape the connector expects
└── NotConfigured   a token or the like is missing: the instance is skipped
"""

from __future__ import annotations


class SourceError(Exception):
    """A fetch or a payload failed; the message names the URL."""

    reason = "source"

    def __init__(self, message: str, reason: str | None = None, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url
        if reason:
            self.reason = reason


class FetchError(SourceError):
    """HTTP status, timeout or connection failure (after retries)."""

    reason = "http"


class PayloadError(SourceError):
    """The body is not JSON, or not the shape the connector expects."""

    reason = "bad_payload"


class NotConfigured(SourceError):
    """The instance lacks something only its operator can give (a vendor token): it is
    skipped, with one warning, and does not fail the run."""

    reason = "not_configured"
