"""The worker fires a threshold breach once its ``for:`` has passed, with no further event.

Regression: the breach fired only when another event of the series happened to arrive.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from connectors.publish import Publisher
from core.events import validate

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

RULES = """
rules:
  - name: dau-high
    kind: threshold
    match: {metric: dau}
    params: {value: 1000000, for: 3s}
"""


def test_a_breach_fires_from_the_timer(broker, topics, hooks, start_worker, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    start_worker(
        topics, APPWATCH_RULES=str(rules), APPWATCH_WEBHOOK_URL=hooks.url, APPWATCH_WEBHOOK_SECRET=hooks.secret
    )
    sent = time.time()
    with Publisher(broker, topics) as pub:
        pub.send(
            validate(
                dict(
                    event_id="k1",
                    type="app.metric",
                    source="t",
                    ts=datetime.now(UTC).isoformat(),
                    app_id="kimi",
                    platform="all",
                    country="cn",
                    metric="dau",
                    value=2_000_000,
                    period="instant",
                )
            )
        )
        pub.flush()
    hooks.wait(lambda r: len(r) >= 1, 30, "the timer's firing alert")
    took = time.time() - sent
    ((_, payload),) = hooks.verified()
    alert = payload["data"]
    assert (alert["rule"], alert["status"], alert["value"]) == ("dau-high", "firing", 2_000_000)
    assert 3.0 <= took < 15, f"fired {took:.1f}s after the event"  # not before `for`, soon after it
