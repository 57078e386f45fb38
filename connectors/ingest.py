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


class IngestMetrics:
    """The ingest counters, on an injected registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "appwatch_ingest_requests_total", "Ingest requests by status", ["status"], registry=registry
        )
        self.events = Counter(
            "appwatch_ingest_events_total", "Ingested events by outcome", ["outcome"], registry=registry
        )


class TooLarge(Exception):
    """The body is over ``max_body`` bytes (413)."""


class Ingest:
    """``POST /v1/events`` of one app: its publisher, tokens, counters and recent ids."""

    def __init__(self, publisher, tokens: Tokens, metrics: IngestMetrics, max_body: int, recent: int) -> None:
        self.publisher, self.tokens, self.metrics, self.max_body = publisher, tokens, metrics, max_body
        self.seen = RecentIds(recent)
        self.lock = asyncio.Lock()  # one request at a time decides what is a repeat

    def reply(self, status: int, body: dict, **headers: str) -> JSONResponse:
        self.metrics.requests.labels(str(status)).inc()
        return JSONResponse(body, status_code=status, headers=headers or None)

    async def ingest(self, request: Request) -> Response:
        denied = self.tokens.check(request.headers.get("authorization"), "ingest")
        if denied:
            return self.reply(denied.status, {"error": denied.message}, **denied.headers)
        try:
            body = await self.body(request)
        except TooLarge:
            return self.reply(413, {"error": f"body over {self.max_body} bytes"})
        ctype = request.headers.get("content-type", "application/json").lower()
        if not ctype.startswith(("application/json", NDJSON)):
            return self.reply(415, {"error": f"content-type must be application/json or {NDJSON}"})
        try:
            items = _parse(body, ctype)
        except orjson.JSONDecodeError as exc:
            return self.reply(
                422,
                {
                    "accepted": [],
                    "duplicates": [],
                    "errors": [{"index": None, "field": "body", "message": f"invalid JSON: {exc}"}],
                },
            )
        valid, errors = _validated(items)
        async with self.lock:
            fresh, dup = self.fresh(valid)
            if fresh and not await self.publish(fresh):
                return self.reply(503, {"error": "the broker did not acknowledge; retry"}, **{"Retry-After": "5"})
        self.metrics.events.labels("accepted").inc(len(fresh))
        self.metrics.events.labels("duplicate").inc(len(dup))
        self.metrics.events.labels("invalid").inc(len(errors))
        body = {"accepted": [ev.event_id for ev in fresh], "duplicates": dup, "errors": errors}
        return self.reply(422 if errors else 200, body)

    async def body(self, request: Request) -> bytes:
        """The request body; TooLarge as soon as it is over ``max_body`` (or says it will be)."""
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_body:
            raise TooLarge
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > self.max_body:
                raise TooLarge
        return body

    def fresh(self, valid: list) -> tuple[list, list[str]]:
        """(events not seen recently nor earlier in this request, ids of the repeats)."""
        fresh, dup, ids = [], [], set()
        for ev in valid:
            if ev.event_id in self.seen or ev.event_id in ids:
                dup.append(ev.event_id)
            else:
                fresh.append(ev)
                ids.add(ev.event_id)
        return fresh, dup

    async def publish(self, fresh: list) -> bool:
        """Publish and wait for the broker's acks; remember the ids only then (False: not acked)."""
        try:
            await asyncio.to_thread(publish_acked, self.publisher, fresh)
        except Exception as exc:  # noqa: BLE001 - any broker failure: the client retries
            log.error("ingest: publish failed: %r", exc)
            return False
        for ev in fresh:
            self.seen.add(ev.event_id)
        return True


def _validated(items: list[Any]) -> tuple[list, list[dict]]:
    """(valid events, an error per invalid item: its index, field path and message)."""
    valid, errors = [], []
    for i, item in enumerate(items):
        try:
            if isinstance(item, InvalidEvent):
                raise item
            valid.append(validate(item))
        except InvalidEvent as exc:
            errors.append({"index": i, "field": exc.field, "message": str(exc)})
    return valid, errors


def _openapi_extra(event_schema: dict) -> dict:
    """``POST /v1/events``'s request bodies and answers, for the OpenAPI document."""
    body_schema = {"oneOf": [event_schema, {"type": "array", "items": event_schema}]}
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": body_schema}, NDJSON: {"schema": {"type": "string"}}},
        },
        "responses": {
            "200": {"description": "all accepted"},
            "401": {"description": "missing or unknown bearer token"},
            "403": {"description": "a token that may not post events (read-only)"},
            "413": {"description": "body too large"},
            "415": {"description": "unsupported content type"},
            "422": {"description": "some events invalid; the valid ones accepted"},
        },
    }


def _add_probes(app: FastAPI, publisher, registry: CollectorRegistry) -> None:
    """``/healthz``, ``/readyz`` (the producer is connected to the broker) and ``/metrics``."""

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


def _add_docs(app: FastAPI, defs: dict) -> None:
    """The event's schemas (``defs``) in the OpenAPI document, and ``/docs`` rendered from it."""
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


def create_app(
    publisher,
    tokens: Tokens,
    *,
    registry: CollectorRegistry | None = None,
    max_body: int = 1_000_000,
    recent: int = 100_000,
) -> FastAPI:
    """``tokens``: posting events needs an ``ingest`` or ``write`` token (``core.auth``).
    ``registry``: where the counters go (without one, a registry of this app's own)."""
    registry = registry or CollectorRegistry()
    ingest = Ingest(publisher, tokens, IngestMetrics(registry), max_body, recent)
    app = FastAPI(title="appwatch ingest", version="1", docs_url=None, redoc_url=None)
    schema = _schema()
    defs = schema.pop("$defs", {})
    app.add_api_route("/v1/events", ingest.ingest, methods=["POST"], openapi_extra=_openapi_extra(schema))
    _add_probes(app, publisher, registry)
    _add_docs(app, defs)
    return app


def docs_page(spec: dict) -> str:
    """One self-contained HTML page: each operation, its request bodies and its answers."""
    esc = html.escape
    rows = []
    for path, ops in spec.get("paths", {}).items():
        for method, op in ops.items():
            bodies = ", ".join(esc(t) for t in op.get("requestBody", {}).get("content", {}))
            answers = "".join(
                f"<li><code>{esc(code)}</code> {esc(r.get('description', ''))}</li>"
                for code, r in op.get("responses", {}).items()
            )
            rows.append(
                f"<h2><code>{esc(method.upper())} {esc(path)}</code></h2>"
                f"<p>{esc(op.get('description') or op.get('summary') or '')}</p>"
                + (f"<p>Body: {bodies}</p>" if bodies else "")
                + f"<ul>{answers}</ul>"
            )
    title = esc(spec.get("info", {}).get("title", "API"))
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:52em;margin:2em auto;padding:0 1em}"
        "code{background:#f3f3f3;padding:0 .2em}</style></head>"
        f"<body><h1>{title}</h1><p>Authorization: <code>Bearer &lt;token&gt;</code>. "
        "The machine-readable document: <a href='/openapi.json'>/openapi.json</a>.</p>"
        + "".join(rows)
        + "</body></html>"
    )
