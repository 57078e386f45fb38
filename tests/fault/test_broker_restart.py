"""The memory-only broker dies and comes back empty: the worker reports unready while it is
gone, then reconnects by itself, and alerts flow again. What the old broker held is lost."""

from __future__ import annotations

import httpx
import pytest

from appwatch.broker import create_topics, embedded, free_port
from tests.conftest import LOGS, wait_until
from tests.fault.report import recorder
from tests.integration.test_pipeline import publish_spike

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def readyz(w) -> dict:
    try:
        return httpx.get(f"{w.url}/readyz", timeout=2).json()
    except httpx.HTTPError:
        return {}


def test_worker_reconnects_after_a_broker_restart(topics, hooks, start_worker, request):
    port = free_port()
    with embedded(port, log=LOGS / "tansu-restart.log") as bootstrap:
        create_topics(bootstrap, topics, 4)
        w = start_worker(
            topics,
            APPWATCH_BROKER=f"kafka://{bootstrap}",
            APPWATCH_WEBHOOK_URL=hooks.url,
            APPWATCH_WEBHOOK_SECRET=hooks.secret,
        )
        publish_spike(bootstrap, topics, "doubao", 800_000)
        hooks.wait(lambda r: len(r) >= 1, 60, "the alert before the restart")
    # the broker is gone
    gone = wait_until(lambda: "broker unreachable" in readyz(w).get("reasons", []), 20, "/readyz says unready")
    assert gone and w.proc.poll() is None  # unready, not dead
    assert w.metric("appwatch_worker_ready") == 0
    with embedded(port, log=LOGS / "tansu-restart.log") as bootstrap:  # back, empty
        create_topics(bootstrap, topics, 4)
        seen = [{}]

        def back() -> bool:
            seen.append(readyz(w))
            return seen[-1].get("ready") is True

        try:
            wait_until(back, 120, "ready again without a restart")
        except pytest.fail.Exception:
            pytest.fail(f"not ready 120 s after the broker came back; /readyz: {seen[-1]}")
        publish_spike(bootstrap, topics, "kimi", 250_000)
        wait_until(lambda: "kimi" in apps(hooks), 120, "an alert after the restart")
    # at least once: an alert sent just before the broker died may be sent again (its
    # group's pending entry was not cleared), always with the same webhook-id
    ids = {p["data"]["labels"]["app_id"]: msg_id for msg_id, p in hooks.verified()}
    raw = [msg_id for msg_id, _ in hooks.verified()]
    recorder(request)(
        "broker restart (memory-only, topics re-created)",
        events_in=16,
        receiver="webhook",
        alerts_expected=2,
        delivered=len(ids),
        missing=2 - len(ids),
        duplicated=len(set(raw)) - len(ids),
        raw_repeats=len(raw) - len(set(raw)),
    )
    assert len({msg_id for msg_id, _ in hooks.verified()}) == len(ids) == 2


def apps(hooks) -> list[str]:
    return [p["data"]["labels"]["app_id"] for _, p in hooks.verified()]
