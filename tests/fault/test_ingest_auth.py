"""Ingest endpoint authentication under hostile headers (``POST /v1/events``).

tests/unit/test_ingest.py has the basics (no header, wrong token, token without scheme,
Basic) and the schemathesis fuzz; here: the full matrix of near-miss headers, that
nothing is published and no body is read without the token, and that the comparison
goes through ``hmac.compare_digest`` (constant time) and nothing else.
"""

from __future__ import annotations

import hmac

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry

from connectors.ingest import create_app
from core import auth
from core.auth import Tokens

TOKEN = "s3cret-Token_0123456789"
EVENT = {
    "event_id": "e1",
    "type": "app.metric",
    "source": "vendor",
    "ts": "2024-11-14T00:00:00+08:00",
    "app_id": "doubao",
    "platform": "all",
    "country": "cn",
    "metric": "downloads",
    "value": 1,
    "period": "day",
}


class Collect:
    def __init__(self):
        self.sent = []

    def send(self, ev):
        self.sent.append(ev)

    def flush(self):
        pass


@pytest.fixture
def api():
    pub, reg = Collect(), CollectorRegistry()
    return TestClient(create_app(pub, Tokens(write=(TOKEN,)), registry=reg, max_body=10_000)), pub, reg


NEAR_MISSES = {
    "empty": "",
    "scheme only": "Bearer",
    "scheme and space": "Bearer ",
    "lower-case scheme": f"bearer {TOKEN}",
    "upper-case scheme": f"BEARER {TOKEN}",
    "mixed-case scheme": f"bEaReR {TOKEN}",
    "token in other case": f"Bearer {TOKEN.upper()}",
    "one char short": f"Bearer {TOKEN[:-1]}",
    "one char long": f"Bearer {TOKEN}x",
    "much longer": f"Bearer {TOKEN * 50}",
    "prefix of the token": f"Bearer {TOKEN[:4]}",
    "same length, last char differs": f"Bearer {TOKEN[:-1]}{chr(ord(TOKEN[-1]) + 1)}",
    "same length, first char differs": f"Bearer x{TOKEN[1:]}",
    "two spaces": f"Bearer  {TOKEN}",
    "tab": f"Bearer\t{TOKEN}",
    "trailing space": f"Bearer {TOKEN} ",
    "token twice": f"Bearer {TOKEN}, Bearer {TOKEN}",
    "other scheme": f"Token {TOKEN}",
    "basic": f"Basic {TOKEN}",
    "nul inside": f"Bearer {TOKEN}\x00",
    "latin-1 look-alike": f"Bearer {TOKEN.replace('e', 'é')}",
}


@pytest.mark.parametrize("header", NEAR_MISSES.values(), ids=NEAR_MISSES.keys())
def test_near_miss_tokens_get_401_and_publish_nothing(api, header):
    client, pub, reg = api
    headers = {"Authorization": header.encode("latin-1")} if header else {"Authorization": ""}
    r = client.post("/v1/events", json=[EVENT], headers=headers)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in r.text
    assert pub.sent == []
    assert reg.get_sample_value("appwatch_ingest_requests_total", {"status": "401"}) == 1
    assert reg.get_sample_value("appwatch_ingest_events_total", {"outcome": "accepted"}) in (None, 0)


def test_the_right_header_is_accepted(api):
    client, pub, _ = api
    assert client.post("/v1/events", json=[EVENT], headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert [e.event_id for e in pub.sent] == ["e1"]


@pytest.mark.parametrize("where", ["query", "cookie", "other header", "two headers, wrong first"])
def test_the_token_anywhere_else_is_not_accepted(api, where):
    client, pub, _ = api
    if where == "query":
        r = client.post(f"/v1/events?access_token={TOKEN}", json=[EVENT])
    elif where == "cookie":
        client.cookies.set("Authorization", f"Bearer {TOKEN}")
        r = client.post("/v1/events", json=[EVENT])
    elif where == "other header":
        r = client.post(
            "/v1/events",
            json=[EVENT],
            headers={"X-Authorization": f"Bearer {TOKEN}", "Proxy-Authorization": f"Bearer {TOKEN}"},
        )
    else:  # a proxy that appends: the first one counts, and it is wrong
        r = client.post(
            "/v1/events",
            json=[EVENT],
            headers=[("Authorization", "Bearer wrong"), ("Authorization", f"Bearer {TOKEN}")],
        )
    assert r.status_code == 401
    assert pub.sent == []


def test_no_body_is_read_or_judged_without_the_token(api):
    """401 comes first: an anonymous client gets neither a 413/422 oracle nor a buffered body."""
    client, pub, _ = api
    assert client.post("/v1/events", content=b"x" * 50_000).status_code == 401  # over max_body
    assert client.post("/v1/events", content=b"{not json").status_code == 401
    assert client.post("/v1/events", content=b"x", headers={"Content-Type": "text/plain"}).status_code == 401
    assert pub.sent == []


REAL_COMPARE = hmac.compare_digest


class Spy:
    def __init__(self, result=None):
        self.calls: list[tuple[bytes, bytes]] = []
        self.result = result

    def __call__(self, a, b):
        self.calls.append((a, b))
        return REAL_COMPARE(a, b) if self.result is None else self.result


def test_the_comparison_is_hmac_compare_digest_on_the_token(api, monkeypatch):
    """core.auth compares the bearer token with every configured token, in constant time."""
    client, pub, _ = api
    spy = Spy()
    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    client.post("/v1/events", json=[EVENT], headers={"Authorization": "Bearer wrong"})
    client.post("/v1/events", json=[EVENT], headers={"Authorization": f"Bearer {TOKEN}"})
    client.post("/v1/events", json=[EVENT])  # no header: nothing to compare
    assert spy.calls == [(b"wrong", TOKEN.encode()), (TOKEN.encode(), TOKEN.encode())]
    assert all(isinstance(a, bytes) and isinstance(b, bytes) for a, b in spy.calls)  # no str == on the way
    assert [e.event_id for e in pub.sent] == ["e1"]


@pytest.mark.parametrize("verdict", [True, False])
def test_compare_digest_alone_decides(api, monkeypatch, verdict):
    """No other comparison (an early ``==``, a length check) gates a Bearer request."""
    client, pub, _ = api
    monkeypatch.setattr(auth.hmac, "compare_digest", Spy(result=verdict))
    for header in ("Bearer wrong", f"Bearer {TOKEN}", "Bearer " + "x" * 500):
        r = client.post("/v1/events", json=[dict(EVENT, event_id=header[:20])], headers={"Authorization": header})
        assert r.status_code == (200 if verdict else 401)
    assert len(pub.sent) == (3 if verdict else 0)
