"""core.auth: which scope a bearer token has, and what a route answers without it."""

from __future__ import annotations

import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from core.auth import Denied, Tokens
from streams.settings import Settings

W1, W2, R1, I1 = "write-token-0123456789", "write-token-abcdefghij", "read-token-0123456789a", "ingest-0123456789ab"
TOKENS = Tokens(write=(W1, W2), read=(R1,), ingest=(I1,))
ALL = {"write", "read", "ingest"}


@pytest.mark.parametrize(
    "header, scope",
    [
        (f"Bearer {W1}", ALL),
        (f"Bearer {W2}", ALL),
        (f"Bearer {R1}", {"read"}),
        (f"Bearer {I1}", {"ingest"}),
        (f"bearer {W1}", None),
        (f"Bearer  {R1}", None),
        (f"Bearer {R1} ", None),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        (f"Basic {W1}", None),
        (f"{W1}", None),
        (f"Bearer {W1[:-1]}", None),
        (f"Bearer {W1}0", None),
        (f"Bearer {W1.upper()}", None),
        (f"Bearer {W1},{R1}", None),
    ],
)
def test_scopes_of_a_header(header, scope):
    assert TOKENS.scopes_of(header) == (scope or set())


def test_what_a_route_answers():
    assert TOKENS.check(None, "read") == Denied(401, "a valid bearer token is required")
    assert TOKENS.check("Bearer nope-nope-nope-nope", "write").status == 401
    assert TOKENS.check(f"Bearer {R1}", "write") == Denied(403, "this token may not change state")
    assert TOKENS.check(f"Bearer {R1}", "ingest") == Denied(403, "this token may not post events")
    assert TOKENS.check(f"Bearer {I1}", "read") == Denied(403, "this token may not read")
    assert TOKENS.check(f"Bearer {I1}", "write").status == 403
    assert TOKENS.check(f"Bearer {R1}", "read") is None and TOKENS.check(f"Bearer {I1}", "ingest") is None
    assert all(TOKENS.check(f"Bearer {W1}", need) is None for need in ALL)


def test_anonymous_read_opens_reading_only():
    anon = Tokens(read=(R1,), anonymous_read=True)
    assert anon.check(None, "read") is None
    assert anon.check(None, "write").status == 401
    assert anon.check(f"Bearer {R1}", "write").status == 403
    assert Tokens().check(None, "write").status == 401  # nothing configured: closed


def test_every_token_is_compared_in_constant_time(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def counted(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", counted)
    TOKENS.scopes_of(f"Bearer {W1}")  # a hit on the first still compares against them all
    assert len(calls) == 4


@given(st.text(max_size=80))
def test_no_other_header_gets_a_scope(header):
    known = {f"Bearer {t}" for t in (W1, W2, R1, I1)}
    assert (TOKENS.scopes_of(header) == set()) == (header not in known)


def test_settings_read_comma_separated_tokens_and_refuse_weak_ones(monkeypatch):
    monkeypatch.setenv("APPWATCH_API_WRITE_TOKENS", f"{W1}, {W2}")
    monkeypatch.setenv("APPWATCH_API_READ_TOKENS", R1)
    t = Tokens.from_settings(Settings())
    assert t.write == (W1, W2) and t.read == (R1,) and not t.anonymous_read
    monkeypatch.setenv("APPWATCH_API_READ_TOKENS", "short")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "api_read_tokens" in str(info.value) and "16 characters" in str(info.value)
    monkeypatch.setenv("APPWATCH_API_READ_TOKENS", "tooshort-secret")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert "tooshort-secret" not in str(info.value)  # a rejected token is not echoed either
