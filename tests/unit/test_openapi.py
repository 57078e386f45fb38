"""The worker's OpenAPI document (appwatch/worker/openapi.yaml): valid OpenAPI 3.1, and the
same routes as the worker registers under /api/ (read from the app itself, not started), so
a route added without documentation, or documented and gone, fails here."""

from __future__ import annotations

import asyncio
import re

import faust
import orjson
import schemathesis
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from appwatch.worker import create_app
from appwatch.worker.openapi import PATHS, document, text
from streams.settings import Settings

METHODS = ("get", "post", "put", "patch", "delete")


def worker_app() -> faust.App:
    """The worker's app as ``appwatch worker`` builds it, never started."""
    return create_app(Settings(broker="kafka://127.0.0.1:1"))


def registered(app: faust.App, prefix: str = "/") -> set[tuple[str, str]]:
    """(METHOD, path) of every view ``app.page`` registered (Faust's ``web.views``), HEAD aside."""
    return {
        (m, path)
        for path, view in app.web.views.items()
        if path.startswith(prefix)
        for m in view.get_methods() - {"HEAD"}
    }


def documented(doc: dict) -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, item in doc["paths"].items() for m in METHODS if m in item}


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for m in METHODS:
            if m in item:
                yield m.upper(), path, item, item[m]


def schemas(node):
    """Every Schema Object of the document (components, parameters, bodies, responses)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "schema":
                yield value
            elif key == "schemas" and isinstance(value, dict):
                yield from value.values()
            else:
                yield from schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from schemas(value)


def refs(node):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def resolve(doc: dict, ref: str):
    assert ref.startswith("#/"), f"{ref}: only references inside the document"
    node = doc
    for part in ref[2:].split("/"):
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def test_the_document_is_valid_openapi_3_1_and_every_ref_and_schema_holds():
    doc = document()
    assert doc["openapi"].startswith("3.1")
    OPENAPI_31_VALIDATOR.validate(doc)  # the official 3.1 schema, as schemathesis ships it
    for schema in schemas(doc):
        Draft202012Validator.check_schema(schema)
    for ref in refs(doc):
        resolve(doc, ref)
    ids = [op["operationId"] for _, _, _, op in operations(doc)]
    assert len(ids) == len(set(ids)), "operationIds are unique"
    loaded = schemathesis.openapi.from_dict(doc)
    loaded.validate()
    assert all(r.ok() for r in loaded.get_all_operations())


def test_every_route_under_api_is_documented_and_every_documented_route_is_registered():
    routes = registered(worker_app(), "/api/")
    doc = documented(document())
    assert sorted(routes - doc) == [], "registered under /api/ but not in openapi.yaml"
    assert sorted(doc - routes) == [], "in openapi.yaml but not registered"


def test_every_operation_declares_its_parameters_auth_and_errors():
    doc = document()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    assert (schemes["session"]["in"], schemes["session"]["name"]) == ("cookie", "appwatch_session")
    assert (schemes["csrf"]["in"], schemes["csrf"]["name"]) == ("header", "X-CSRF-Token")
    for method, path, item, op in operations(doc):
        params = [resolve(doc, p["$ref"]) if "$ref" in p else p for p in item.get("parameters", [])]
        params += [resolve(doc, p["$ref"]) if "$ref" in p else p for p in op.get("parameters", [])]
        assert {p["name"] for p in params if p["in"] == "path"} == set(re.findall(r"{(\w+)}", path)), path
        security = op.get("security", doc["security"])
        if security == []:
            assert path in PATHS, f"{method} {path}: only the document itself is open"
            continue
        assert {"401", "403"} <= set(op["responses"]), f"{method} {path}: 401 and 403"
        assert {"bearer": []} in security, f"{method} {path}: a bearer token"
        change = method != "GET" and security != doc["security"]
        assert not change or {"session": [], "csrf": []} in security, f"{method} {path}: CSRF with the cookie"


def test_the_worker_serves_the_document_from_the_package_without_a_token():
    async def fetch():
        async with TestClient(TestServer(worker_app().web.web_app)) as client:
            as_yaml = await client.get("/api/v1/openapi.yaml")
            as_json = await client.get("/api/v1/openapi.json")
            return as_yaml.status, await as_yaml.text(), as_json.status, await as_json.read()

    yaml_status, yaml_text, json_status, json_body = asyncio.run(fetch())
    assert (yaml_status, yaml_text) == (200, text())
    assert json_status == 200 and orjson.loads(json_body) == document()


def test_a_route_registered_without_documentation_is_caught():
    app = worker_app()

    @app.page("/api/v1/undocumented")
    async def undocumented(web, request):
        return web.json({})

    assert registered(app, "/api/") - documented(document()) == {("GET", "/api/v1/undocumented")}
