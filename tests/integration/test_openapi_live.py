"""A running worker answers its read routes (every GET of /api/v1 and /api/v2) as its OpenAPI
document says: schemathesis makes a few requests per operation (deterministic, bounded) with a
read token and checks each answer's status code, content type, headers and body against the
document; then the known objects (a firing alert, a silence, a finished backtest) once each."""

from __future__ import annotations

import time

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from appwatch.worker.openapi import document
from connectors import demo as scenario
from tests.conftest import wait_until
from tests.integration.test_pipeline import publish_spike

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

WRITE, READ = "w-" + "7a6b5c4d3e2f1a0b9c8d", "r-" + "1f2e3d4c5b6a79880f1e"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 4  # per operation: bounded, and with derandomize the same requests every run


def read_operations(schema):
    ops = [r.ok() for r in schema.get_all_operations()]
    return [op for op in ops if op.method.upper() == "GET" and op.path.startswith(("/api/v1/", "/api/v2/"))]


def fuzz(op, url: str, headers: dict) -> None:
    @given(case=op.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        case.call_and_validate(base_url=url, headers=headers, checks=CHECKS)

    run()


def seed(w, broker, topics, hooks) -> dict[str, str]:
    """A firing alert, a silence and a finished backtest: their ids, by path parameter."""
    write = {"Authorization": f"Bearer {WRITE}"}
    publish_spike(broker, topics, "doubao", 800_000)
    hooks.wait(lambda r: len(r) >= 1, 30, "the Doubao alert")
    silence = {"matchers": ['app_id="kimi"'], "created_by": "ops", "comment": "known", "ends_at": time.time() + 3600}
    sid = httpx.post(f"{w.url}/api/v1/silences", json=silence, headers=write, timeout=10).json()["id"]
    body = b"\n".join(ev.to_json() for ev in scenario.events())
    job = httpx.post(f"{w.url}/api/v1/backtests", content=body, headers=write, timeout=10).json()["id"]
    done = lambda: httpx.get(f"{w.url}/api/v1/backtests/{job}", headers=write, timeout=5).json()["state"] == "done"  # noqa: E731
    wait_until(done, 60, "the backtest done")
    alerts = lambda: httpx.get(f"{w.url}/api/v2/alerts", headers=write, timeout=5).json()  # noqa: E731
    aid = wait_until(alerts, 10, "the alert listed")[0]["fingerprint"]
    return {"silence_id": sid, "job_id": job, "alert_id": aid}


def test_read_routes_of_api_v1_and_v2_answer_as_the_openapi_document_says(broker, topics, hooks, start_worker):
    w = start_worker(
        topics,
        APPWATCH_WEBHOOK_URL=hooks.url,
        APPWATCH_WEBHOOK_SECRET=hooks.secret,
        APPWATCH_API_WRITE_TOKENS=WRITE,
        APPWATCH_API_READ_TOKENS=READ,
    )
    known = seed(w, broker, topics, hooks)
    schema = schemathesis.openapi.from_dict(document())
    reader = {"Authorization": f"Bearer {READ}"}
    ops = read_operations(schema)
    assert {op.path for op in ops} >= {"/api/v1/silences", "/api/v2/alerts", "/api/v2/silence/{silence_id}"}
    for op in ops:
        fuzz(op, w.url, reader)
    for op in ops:  # each once more, with ids that exist: the 200 bodies
        case = op.Case(path_parameters={k: v for k, v in known.items() if "{" + k + "}" in op.path})
        response = case.call_and_validate(base_url=w.url, headers=reader, checks=CHECKS)
        assert response.status_code == 200, (op.path, response.text)
        if op.path in ("/api/v2/alerts", "/api/v1/silences", "/api/v1/alerts", "/api/v1/market"):
            assert response.json(), f"{op.path}: the seeded objects are listed"
    for op in ops:  # without a token: the 401 answers conform too
        op.Case(path_parameters={k: v for k, v in known.items() if "{" + k + "}" in op.path}).call_and_validate(
            base_url=w.url, checks=CHECKS
        )
