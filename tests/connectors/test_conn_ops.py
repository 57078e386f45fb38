"""The connectors process serves /metrics, /healthz and /readyz on one port."""

import httpx
from prometheus_client import CollectorRegistry, Counter

from appwatch.broker import free_port
from connectors import ops


def test_metrics_health_and_readiness():
    registry, up = CollectorRegistry(), [False]
    Counter("appwatch_connector_polls_total", "polls", ["connector"], registry=registry).labels("x").inc()
    port = free_port()
    server = ops.serve("127.0.0.1", port, registry, lambda: up[0])
    try:
        base = f"http://127.0.0.1:{port}"
        assert 'appwatch_connector_polls_total{connector="x"} 1.0' in httpx.get(f"{base}/metrics").text
        assert httpx.get(f"{base}/healthz").json() == {"ok": True, "ready": False}
        r = httpx.get(f"{base}/readyz")
        assert r.status_code == 503 and r.json() == {"ready": False}
        up[0] = True
        assert httpx.get(f"{base}/readyz").status_code == 200
    finally:
        server.shutdown()
        server.server_close()
