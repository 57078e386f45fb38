"""The worker's OpenAPI document (``openapi.yaml``, shipped in the package), served as it is:

    GET /api/v1/openapi.yaml     the document
    GET /api/v1/openapi.json     the same, as JSON

Open without a token, as ``/metrics`` is: it describes the routes, it holds no data.
``docs/api.md`` explains it; tests/unit/test_openapi.py checks it against the routes the
worker registers.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import faust
import yaml

PATHS = ("/api/v1/openapi.yaml", "/api/v1/openapi.json")


@cache
def text() -> str:
    """The document as shipped in the package."""
    return resources.files(__package__).joinpath("openapi.yaml").read_text("utf-8")


@cache
def document() -> dict:
    return yaml.safe_load(text())


class OpenApi:
    def install(self, app: faust.App) -> None:
        @app.page("/api/v1/openapi.yaml")
        async def openapi_yaml(web, request):
            return web.text(text(), content_type="application/yaml")

        @app.page("/api/v1/openapi.json")
        async def openapi_json(web, request):
            return web.json(document())
