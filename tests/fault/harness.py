"""What the fault tests share: a scriptable webhook receiver, the alert ledger from the
engine, an alerts config, event builders.

``FaultReceiver`` is a real HTTP server (pytest-httpserver) that can start late on a fixed
port (so that, until then, connections are refused), answers each request as a
``respond(hit, earlier_hits_of_this_id)`` function decides (status, headers, how long to
hold the answer), and records every request with its ``webhook-id``, its payload (the
Standard Webhooks signature checked) and when it arrived and was answered.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug import Request, Response

from appwatch.broker import free_port
from core.alert import Alert
from core.events import AppMetric, Event, validate
from streams import marketwide
from streams import rules as rules_mod
from streams.engine import Engine


@dataclass
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    hold: float = 0.0  # seconds to wait before answering


@dataclass
class Hit:
    webhook_id: str
    data: dict | None  # the payload's ``data`` (the alert), None if the signature failed
    arrived: float  # time.time()
    status: int = 0
    held: float = 0.0
    answered: float | None = None
    error: str | None = None  # why the signature check failed


Respond = Callable[[Hit, list[Hit]], Reply]


class FaultReceiver:
    def __init__(
        self,
        secret: str,
        *,
        port: int | None = None,
        path: str = "/hook",
        threaded: bool = False,
        respond: Respond | None = None,
    ) -> None:
        self.secret, self.path, self.threaded = secret, path, threaded
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self.respond: Respond = respond or (lambda hit, earlier: Reply())
        self.hits: list[Hit] = []
        self.started_at: float | None = None
        self.release = threading.Event()  # ends every hold at once (teardown)
        self._cond = threading.Condition()
        self._server: HTTPServer | None = None

    def start(self) -> None:
        server = HTTPServer(host="127.0.0.1", port=self.port, threaded=self.threaded)
        server.expect_request(self.path, method="POST").respond_with_handler(self._handle)
        server.start()
        self._server, self.started_at = server, time.time()

    def stop(self) -> None:
        self.release.set()
        if self._server is not None and self._server.is_running():
            self._server.clear()
            self._server.stop()

    def _handle(self, request: Request) -> Response:
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = request.get_data()
        hit = Hit(webhook_id=headers.get("webhook-id", ""), data=None, arrived=time.time())
        try:
            hit.data = Webhook(self.secret).verify(body, headers)["data"]
        except Exception as exc:  # noqa: BLE001 - recorded; the tests assert every hit verified
            hit.error = repr(exc)
        with self._cond:
            earlier = [h for h in self.hits if h.webhook_id == hit.webhook_id]
            self.hits.append(hit)
            reply = self.respond(hit, earlier)
            hit.status, hit.held = reply.status, reply.hold
            self._cond.notify_all()
        if reply.hold:
            self.release.wait(reply.hold)
        with self._cond:
            hit.answered = time.time()
            self._cond.notify_all()
        return Response(status=reply.status, headers=reply.headers)

    def wait(self, pred: Callable[[list[Hit]], object], timeout: float, what: str) -> list[Hit]:
        with self._cond:
            if not self._cond.wait_for(lambda: pred(self.hits), timeout):
                pytest.fail(
                    f"timed out after {timeout}s waiting for {what}; got {len(self.hits)} requests: "
                    f"{Counter((h.webhook_id[:12], h.status) for h in self.hits)}"
                )
            return list(self.hits)

    def snapshot(self) -> list[Hit]:
        with self._cond:
            return list(self.hits)


def accepted_ids(hits: Iterable[Hit]) -> set[str]:
    """Ids the receiver answered 2xx (held answers included: the receiver processed them)."""
    return {h.webhook_id for h in hits if 200 <= h.status < 300}


# -- what the engine expects ---------------------------------------------------------


@dataclass
class Expected:
    alerts: list[Alert]
    too_late: int  # events appwatch_events_too_late_total counts
    evaluations: Counter  # rule -> events evaluated (appwatch_rule_evaluations_total)

    @property
    def webhook_ids(self) -> set[str]:
        return {f"msg_{a.alert_id}_{a.status}" for a in self.alerts}

    def by_id(self) -> dict[str, Alert]:
        return {f"msg_{a.alert_id}_{a.status}": a for a in self.alerts}


def expected_alerts(events: Iterable[Event], *, arrival: float | None = None, rules_file=None) -> Expected:
    """The alerts the worker must produce for ``events`` published in this order: the
    worker's detect path (``Engine.metric``, series state per rule and series) run offline
    with the worker's rules (the shipped pack unless ``rules_file``). ``arrival`` is the
    ``observed_at`` to give (the time the events enter Kafka); None takes ``ts`` as given,
    as ``appwatch backtest`` does. Only ``app.metric`` events: the fault tests send those."""
    too_late = Counter()
    engine = Engine(rules_mod.load(rules_file), on_too_late=lambda ev: too_late.update(["n"]))
    state: dict = {}
    control: dict = {}  # the control agent's: markets
    alerts: list[Alert] = []
    for ev in events:
        assert isinstance(ev, AppMetric), "expected_alerts: metric events only"
        alerts += engine.metric(ev, state, observed_at=arrival)
        for move in engine.take_moves():
            alerts += engine.market(move, control)
    assert not control.get(marketwide.PENDING), "an alert would wait for its market's other apps"
    return Expected(alerts, too_late["n"], Counter(engine.evaluations))


# -- events and config ---------------------------------------------------------------


def metric(
    app_id: str,
    ts: str,
    value: float,
    *,
    mode: str = "total",
    country: str = "cn",
    source: str = "fault",
    tag: str = "",
) -> AppMetric:
    return validate(
        dict(
            event_id=f"fault:{app_id}:{ts}:{mode}:{value:g}{tag}",
            type="app.metric",
            source=source,
            ts=ts,
            app_id=app_id,
            app_name=app_id.title(),
            platform="all",
            country=country,
            metric="downloads",
            value=value,
            period="day",
            mode=mode,
        )
    )


def day(
    app_id: str, d: int, value: float, *, hour: int = 0, mode: str = "total", month: int = 11, year: int = 2024
) -> AppMetric:
    """A downloads event on day ``d`` (Asia/Shanghai, the shipped rule's zone)."""
    return metric(app_id, f"{year}-{month:02d}-{d:02d}T{hour:02d}:00:00+08:00", value, mode=mode)


def spike(app_id: str, base: float, factor: float = 3.0) -> list[AppMetric]:
    """Seven flat days (1-7 Nov), then day 8 at ``factor`` times: one download-spike alert."""
    return [*(day(app_id, d, base) for d in range(1, 8)), day(app_id, 8, base * factor)]


def staggered(apps: dict[str, float], factor: float = 3.0) -> list[AppMetric]:
    """Every app's total every day of July 2024 (no CN holiday), day by day; the k-th app
    at ``factor`` times on day 8 + k: one download-spike alert per app, each on a day of
    its own (several apps of a market up the same day would be one market alert)."""
    last = 7 + len(apps)
    return [
        day(app, d, base * (factor if d == 8 + k else 1.0), month=7)
        for d in range(1, last + 1)
        for k, (app, base) in enumerate(apps.items())
    ]


def alerts_config(path: Path, receivers: dict[str, str], secret_env: str = "HOOK_SECRET") -> Path:
    """Every alert to every receiver (each its own queue), one notification per alert at once."""
    routes = "\n".join(f"    - {{receiver: {name}, continue: true}}" for name in receivers)
    hooks = "\n".join(
        f'  - name: {name}\n    webhook_configs: [{{url: "{url}", secret_env: {secret_env}}}]'
        for name, url in receivers.items()
    )
    path.write_text(f"""
route:
  receiver: {next(iter(receivers))}
  group_by: [alert_id]
  group_wait: 0s
  routes:
{routes}
receivers:
{hooks}
""")
    return path
