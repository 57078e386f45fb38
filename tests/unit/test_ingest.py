"""The ingest endpoint in-process: auth, limits, per-event errors, idempotency; schemathesis fuzz."""

import re

import orjson
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from prometheus_client import CollectorRegistry

from connectors.ingest import create_app
from core.auth import Tokens

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Collect:
    def __init__(self):
        self.sent = []
        self.up = True

    def connected(self):
        return self.up

    def send(self, ev):
        self.sent.append(ev)

    def flush(self):
        pass


def metric(i: int, **over) -> dict:
    return {
        "event_id": f"e{i}",
        "type": "app.metric",
        "source": "vendor",
        "ts": "2024-11-14T00:00:00+08:00",
        "app_id": "doubao",
        "platform": "all",
        "country": "cn",
        "metric": "downloads",
        "value": 800000 + i,
        "period": "day",
        **over,
    }


@pytest.fixture
def api():
    pub, reg = Collect(), CollectorRegistry()
    client = TestClient(create_app(pub, Tokens(write=(TOKEN,)), registry=reg, max_body=10_000))
    return client, pub, reg


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}, {"Authorization": f"Basic {TOKEN}"}]
)
def test_no_publish_without_the_token(api, headers):
    client, pub, _ = api
    r = client.post("/v1/events", json=metric(1), headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert pub.sent == []


def test_batch_with_invalid_events_reports_index_and_field_and_keeps_the_valid(api):
    client, pub, reg = api
    batch = [metric(1), metric(2, value=-3), metric(3), {"type": "news"}]
    r = client.post("/v1/events", json=batch, headers=AUTH)
    assert r.status_code == 422
    body = r.json()
    assert body["accepted"] == ["e1", "e3"]
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(1, "value"), (3, "event_id")]
    assert "greater than or equal to 0" in body["errors"][0]["message"]
    assert [e.event_id for e in pub.sent] == ["e1", "e3"]
    assert reg.get_sample_value("appwatch_ingest_events_total", {"outcome": "invalid"}) == 2


def test_idempotent_by_event_id(api):
    client, pub, reg = api
    assert client.post("/v1/events", json=[metric(1), metric(1)], headers=AUTH).json() == {
        "accepted": ["e1"],
        "duplicates": ["e1"],
        "errors": [],
    }
    r = client.post("/v1/events", json=metric(1), headers=AUTH)
    assert r.status_code == 200 and r.json()["duplicates"] == ["e1"]
    assert len(pub.sent) == 1


def test_ndjson(api):
    client, pub, _ = api
    body = b"\n".join(orjson.dumps(metric(i)) for i in range(3)) + b"\n{broken\n"
    r = client.post("/v1/events", content=body, headers={**AUTH, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 422
    assert r.json()["accepted"] == ["e0", "e1", "e2"]
    assert r.json()["errors"][0]["index"] == 3 and r.json()["errors"][0]["field"] == "json"


def test_body_limit_and_content_type(api):
    client, pub, _ = api
    big = [metric(i) for i in range(100)]
    assert client.post("/v1/events", json=big, headers=AUTH).status_code == 413
    r = client.post("/v1/events", content=b"x", headers={**AUTH, "Content-Type": "text/plain"})
    assert r.status_code == 415
    assert client.post("/v1/events", content=b"[" * 5000, headers=AUTH).status_code == 422
    assert pub.sent == []


def test_openapi_describes_the_event_body(api):
    client, _, _ = api
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    assert "oneOf" in body["schema"] and "AppMetric" in spec["components"]["schemas"]


fuzz_pub = Collect()
fuzz_app = create_app(fuzz_pub, Tokens(write=(TOKEN,)), max_body=50_000)
schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzz_never_500(case):
    for headers in (AUTH, {}):  # with the token, and without: never a publish then
        before = len(fuzz_pub.sent)
        response = case.call(headers=headers)
        assert response.status_code < 500, response.text
        if not headers:
            assert len(fuzz_pub.sent) == before
            assert response.status_code in (401, 405) or case.path != "/v1/events"


def test_readyz_follows_the_broker_connection(api):
    client, pub, _ = api
    assert client.get("/readyz").json() == {"ready": True}
    pub.up = False
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json() == {"ready": False}
    assert client.get("/healthz").status_code == 200


def test_an_ingest_token_may_post_events_and_nothing_else_is_needed():
    pub = Collect()
    client = TestClient(create_app(pub, Tokens(ingest=("ingest-only-0123456789",)), registry=CollectorRegistry()))
    r = client.post("/v1/events", json=metric(1), headers={"Authorization": "Bearer ingest-only-0123456789"})
    assert r.status_code == 200 and [e.event_id for e in pub.sent] == ["e1"]


def test_a_read_token_may_not_post_events_and_no_token_is_echoed():
    read = "read-only-token-0123456789"
    pub = Collect()
    client = TestClient(create_app(pub, Tokens(write=(TOKEN,), read=(read,)), registry=CollectorRegistry()))
    r = client.post("/v1/events", json=metric(1), headers={"Authorization": f"Bearer {read}"})
    assert r.status_code == 403 and "www-authenticate" not in r.headers and pub.sent == []
    assert read not in r.text and TOKEN not in r.text


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
def test_probes_metrics_and_the_api_description_are_open(api, path):
    client, _, _ = api
    assert client.get(path).status_code == 200


def test_docs_need_nothing_from_another_host(api):
    """An air-gapped host has no CDN: the page is whole, with no script, style or font to fetch."""
    client, _, _ = api
    page = client.get("/docs").text
    assert "POST /v1/events" in page and "application/x-ndjson" in page and "403" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "loads something from elsewhere"
    assert "<script" not in page and client.get("/redoc").status_code == 404
