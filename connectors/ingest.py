"""HTTP ingest: ``POST /v1/events`` (JSON object, JSON array or NDJSON) -> Kafka.

- A bearer token is required (401 without it, compared in constant time).
- The body is limited to ``max_body`` bytes (413).
- Each invalid event is reported with its index and field path (422); the valid
  ones in the same request are still accepted.
- Idempotent by ``event_id``: a repeat within the recent-ids window is reported
  as a duplicate and not published again.
- The response is sent after Kafka acknowledged the accepted events (503 with
  Retry-After when it did not; those ids are not remembered, so a retry publishes).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections import OrderedDict
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    generate_latest,
)

from connectors.publish import publish_acked
from streams.events import InvalidEvent, validate

NDJSON = "application/x-ndjson"
log = logging.getLogger(__name__)


class RecentIds:
    """A bounded set of recently accepted event ids (oldest forgotten first)."""

    def __init__(self, size: int) -> None:
        self.size, self._ids = size, OrderedDict()

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        self._ids[event_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)


def _parse(body: bytes, content_type: str) -> list[Any]:
    if content_type.startswith(NDJSON):
        out = []
        for line in body.splitlines():
            if line.strip():
                try:
                    out.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    out.append(InvalidEvent("json", f"invalid JSON: {exc}"))
        return out
    data = orjson.loads(body)
    return data if isinstance(data, list) else [data]


def _schema() -> dict:
    from pydantic import TypeAdapter

    from streams.events import Event

    event = TypeAdapter(Event).json_schema(ref_template="#/components/schemas/{model}")
    return event


def create_app(publisher, token: str, *, registry: CollectorRegistry | None = None,
               max_body: int = 1_000_000, recent: int = 100_000) -> FastAPI:
    registry = registry or CollectorRegistry()
    requests = Counter("appwatch_ingest_requests_total", "Ingest requests by status",
                       ["status"], registry=registry)
    events = Counter("appwatch_ingest_events_total", "Ingested events by outcome",
                     ["outcome"], registry=registry)
    seen = RecentIds(recent)
    lock = asyncio.Lock()
    expected = f"Bearer {token}".encode()
    app = FastAPI(title="appwatch ingest", version="1")

    def reply(status: int, body: dict, **headers: str) -> JSONResponse:
        requests.labels(str(status)).inc()
        return JSONResponse(body, status_code=status, headers=headers or None)

    schema = _schema()
    defs = schema.pop("$defs", {})
    body_schema = {"oneOf": [schema, {"type": "array", "items": schema}]}

    @app.post(
        "/v1/events",
        openapi_extra={
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": body_schema},
                NDJSON: {"schema": {"type": "string"}}}},
            "responses": {"200": {"description": "all accepted"},
                          "401": {"description": "missing or wrong bearer token"},
                          "413": {"description": "body too large"},
                          "415": {"description": "unsupported content type"},
                          "422": {"description": "some events invalid; the valid ones accepted"}},
        },
    )
    async def ingest(request: Request) -> Response:
        auth = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(auth, expected):
            return reply(401, {"error": "a valid bearer token is required"},
                         **{"WWW-Authenticate": "Bearer"})
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > max_body:
            return reply(413, {"error": f"body over {max_body} bytes"})
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                return reply(413, {"error": f"body over {max_body} bytes"})
        ctype = request.headers.get("content-type", "application/json").lower()
        if not ctype.startswith(("application/json", NDJSON)):
            return reply(415, {"error": f"content-type must be application/json or {NDJSON}"})
        try:
            items = _parse(body, ctype)
        except orjson.JSONDecodeError as exc:
            return reply(422, {"accepted": [], "duplicates": [],
                               "errors": [{"index": None, "field": "body", "message": f"invalid JSON: {exc}"}]})
        valid, errors = [], []
        for i, item in enumerate(items):
            try:
                if isinstance(item, InvalidEvent):
                    raise item
                valid.append(validate(item))
            except InvalidEvent as exc:
                errors.append({"index": i, "field": exc.field, "message": str(exc)})
        async with lock:
            fresh, dup, ids = [], [], set()
            for ev in valid:
                if ev.event_id in seen or ev.event_id in ids:
                    dup.append(ev.event_id)
                else:
                    fresh.append(ev)
                    ids.add(ev.event_id)
            if fresh:
                try:
                    await asyncio.to_thread(publish_acked, publisher, fresh)
                except Exception as exc:  # noqa: BLE001 - any broker failure: the client retries
                    log.error("ingest: publish failed: %r", exc)
                    return reply(503, {"error": "the broker did not acknowledge; retry"},
                                 **{"Retry-After": "5"})
                for ev in fresh:
                    seen.add(ev.event_id)
        events.labels("accepted").inc(len(fresh))
        events.labels("duplicate").inc(len(dup))
        events.labels("invalid").inc(len(errors))
        body = {"accepted": [ev.event_id for ev in fresh], "duplicates": dup, "errors": errors}
        return reply(422 if errors else 200, body)

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"ok": True}

    @app.get("/readyz")
    async def readyz() -> Response:
        """Ready when the producer is connected to the broker."""
        ok = await asyncio.to_thread(publisher.connected)
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    base_openapi = app.openapi

    def openapi() -> dict:
        spec = base_openapi()
        spec.setdefault("components", {}).setdefault("schemas", {}).update(defs)
        return spec

    app.openapi = openapi
    return app

