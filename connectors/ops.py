"""/metrics, /healthz and /readyz for the connectors process (a thread, as prometheus_client's server)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from wsgiref.simple_server import make_server

import orjson
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler


def serve(host: str, port: int, registry: CollectorRegistry, ready: Callable[[], bool]):
    """Start the server in a daemon thread; return it (``shutdown()`` stops it)."""
    metrics = make_wsgi_app(registry)

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path not in ("/healthz", "/readyz"):
            return metrics(environ, start_response)
        ok, live = ready(), path == "/healthz"
        start_response("200 OK" if ok or live else "503 Service Unavailable", [("Content-Type", "application/json")])
        return [orjson.dumps({"ok": True, "ready": ok} if live else {"ready": ok})]

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_SilentHandler)
    threading.Thread(target=server.serve_forever, daemon=True, name="ops-http").start()
    return server
