"""HTTP ingest: ``POST /v1/events`` (JSON object, JSON array or NDJSON) -> Kafka.

- A bearer token that may post events is required (``core.auth``: 401 without a known
  token, 403 with a read-only one, compared in constant time).
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
import html
import logging
from collections import OrderedDict
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    generate_latest,
)

from connectors.publish import publish_acked
from core.auth import Tokens
from core.events import InvalidEvent, validate

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

    from core.events import Event

    event = TypeAdapter(Event).json_schema(ref_template="#/components/schemas/{model}")
    return event


def create_app(publisher, tokens: Tokens, *, registry: CollectorRegistry | None = None,
               max_body: int = 1_000_000, recent: int = 100_000) -> FastAPI:
    """``tokens``: posting events needs an ``ingest`` or ``write`` token (``core.auth``)."""
    registry = registry or CollectorRegistry()
    requests = Counter("appwatch_ingest_requests_total", "Ingest requests by status",
                       ["status"], registry=registry)
    events = Counter("appwatch_ingest_events_total", "Ingested events by outcome",
                     ["outcome"], registry=registry)
    seen = RecentIds(recent)
    lock = asyncio.Lock()
    app = FastAPI(title="appwatch ingest", version="1", docs_url=None, redoc_url=None)

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
                          "401": {"description": "missing or unknown bearer token"},
                          "403": {"description": "a token that may not post events (read-only)"},
                          "413": {"description": "body too large"},
                          "415": {"description": "unsupported content type"},
                          "422": {"description": "some events invalid; the valid ones accepted"}},
        },
    )
    async def ingest(request: Request) -> Response:
        denied = tokens.check(request.headers.get("authorization"), "ingest")
        if denied:
            return reply(denied.status, {"error": denied.message}, **denied.headers)
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

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        """The API described from its OpenAPI document, with nothing loaded from elsewhere
        (an air-gapped host has no CDN)."""
        return HTMLResponse(docs_page(app.openapi()))

    return app


def docs_page(spec: dict) -> str:
    """One self-contained HTML page: each operation, its request bodies and its answers."""
    esc = html.escape
    rows = []
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            bodies = ", ".join(esc(t) for t in op.get("requestBody", {}).get("content", {}))
            answers = "".join(f"<li><code>{esc(code)}</code> {esc(r.get('description', ''))}</li>"
                              for code, r in op.get("responses", {}).items())
            rows.append(f"<h2><code>{esc(method.upper())} {esc(path)}</code></h2>"
                        f"<p>{esc(op.get('description') or op.get('summary') or '')}</p>"
                        + (f"<p>Body: {bodies}</p>" if bodies else "") + f"<ul>{answers}</ul>")
    title = esc(spec.get("info", {}).get("title", "API"))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
            "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:52em;margin:2em auto;padding:0 1em}"
            "code{background:#f3f3f3;padding:0 .2em}</style></head>"
            f"<body><h1>{title}</h1><p>Authorization: <code>Bearer &lt;token&gt;</code>. "
            "The machine-readable document: <a href='/openapi.json'>/openapi.json</a>.</p>"
            + "".join(rows) + "</body></html>")

