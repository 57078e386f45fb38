"""The rules' status and a check of an edited rules file, on the worker:

    GET  /api/v1/rules          each rule: its file and line, and its state (firing, pending or
                             ok) with what this worker saw of it (it reports itself as
                             ``worker``: the events of its partitions): evaluations, alerts
                             fired, ``last_evaluation`` (unix time of the last batch that
                             evaluated it, or null)
    POST /api/v1/rules/check    a rules YAML in the body, validated, not applied: 200 with the
                             rules it holds, or 400 with one ``file:line: field: message``
                             per problem
    POST /api/v1/rules/check?backtest=24h
                             the same check; when the rules are valid, a backtest of them
                             over the events the broker still holds from that long ago
                             (``s``, ``m``, ``h`` or ``d``) until now: 202 {"id", "status",
                             "rules"}, followed at ``/api/v1/backtests/{id}``

Reading and checking need a read token (``core.auth``): they change nothing. A backtest
costs CPU: it needs a write token, as ``POST /api/v1/backtests`` does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import faust
from aiokafka.errors import KafkaError

from alerts.pipeline import firing_now
from core import yamlfile
from core.auth import Caller, Tokens
from streams import backtest, rules
from streams.detectors import threshold
from streams.metrics import StreamMetrics

from ..http import Answer, caller, denied, reply
from . import backtests
from .detect import Detect

SPAN = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def span_seconds(text: str) -> float | None:
    """``24h``, ``7d``, ``30m``, ``90s`` in seconds; None for anything else (or zero)."""
    m = SPAN.match(text or "")
    return int(m[1]) * UNIT[m[2]] or None if m else None


class RulesApi:
    def __init__(
        self,
        tokens: Tokens,
        detect: Detect,
        path: str | Path | None,
        firing: Mapping[str, dict],
        metrics: StreamMetrics,
        worker: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.tokens, self.detect, self.path, self.firing = tokens, detect, path, firing
        self.metrics, self.worker, self.clock = metrics, worker, clock
        self.backtests: backtests.Backtests | None = None  # where ``?backtest=`` runs its job

    def status(self, who: Caller | str | None) -> Answer:
        if (no := denied(self.tokens, who, "read")) is not None:
            return no
        text, name = rules.source(self.path)
        at = rules.lines(text)
        firing, pending, fired = self._firing(), self._pending(), self._fired()
        evaluated = self.detect.stage.stage.evaluated
        out = []
        for rule in self.detect.engine.rules:
            state = "firing" if firing.get(rule.name) else ("pending" if pending.get(rule.name) else "ok")
            out.append(
                {
                    "name": rule.name,
                    "kind": rule.kind,
                    "severity": rule.severity,
                    "file": name,
                    "line": at.get(rule.name),
                    "state": state,
                    "firing": firing.get(rule.name, 0),
                    "pending": pending.get(rule.name, 0),
                    "evaluations": self.detect.engine.evaluations[rule.name],
                    "last_evaluation": evaluated.get(rule.name),
                    "fired": fired.get(rule.name, 0),
                    "worker": self.worker,
                }
            )
        return Answer(200, out)

    def check(self, who: Caller | str | None, text: str) -> Answer:
        if (no := denied(self.tokens, who, "read")) is not None:
            return no
        try:
            ruleset = yamlfile.parse(text, rules.RuleSet, "<posted rules>")
        except yamlfile.ConfigError as exc:
            return Answer(400, {"errors": str(exc).splitlines()})
        at = rules.lines(text)
        return Answer(200, {"rules": [{"name": r.name, "kind": r.kind, "line": at.get(r.name)} for r in ruleset.rules]})

    async def backtest(self, who: Caller | str | None, text: str, span: str) -> Answer:
        """Check ``text``; when it is valid, start a backtest of it over the last ``span``."""
        if (no := denied(self.tokens, who, "write")) is not None:
            return no
        seconds = span_seconds(span)
        if seconds is None:
            return Answer(400, {"error": f"backtest: {span!r} is not a span like 24h or 7d"})
        checked = self.check(who, text)
        if checked.status != 200:
            return checked
        if self.backtests is None:
            return Answer(503, {"error": "backtests are not available on this worker"})
        settings = self.detect.stage.settings
        try:
            found = await backtests.recent(settings, self.detect.topics, self.clock() - seconds)
        except KafkaError as exc:
            return Answer(503, {"error": f"the broker could not be read: {exc!r}"})
        if isinstance(found, str):
            return Answer(413, {"error": found})
        total, chunks = found
        run = backtest.Run(yamlfile.parse(text, rules.RuleSet, "<posted rules>"), self.backtests.companies)
        job = self.backtests.launch(run, total, chunks, source=f"the events of the last {span.strip()}")
        job.rules = "edited rules"
        return Answer(202, {"id": job.id, "status": f"/api/v1/backtests/{job.id}", **checked.body})

    def _firing(self) -> dict[str, int]:
        """rule -> alerts of it firing now, in the whole deployment (the firing set)."""
        now, out = self.clock(), {}
        for f in list(self.firing.values()):
            if firing_now(f, now):
                name = f["labels"].get("rule", "")
                out[name] = out.get(name, 0) + 1
        return out

    def _pending(self) -> dict[str, int]:
        """rule -> series of this worker's partitions whose threshold breach waits out ``for``."""
        out: dict[str, int] = {}
        for part in list(self.detect.stage.stage.state.values()):
            for st in list(part.values()):
                for name, fold in st.rules.items():
                    if isinstance(fold, threshold.State) and fold.due is not None and not fold.firing:
                        out[name] = out.get(name, 0) + 1
        return out

    def _fired(self) -> dict[str, int]:
        """rule -> alerts this worker fired since it started."""
        out: dict[str, int] = {}
        for family in self.metrics.alerts.collect():
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    rule = sample.labels["rule"]
                    out[rule] = out.get(rule, 0) + int(sample.value)
        return out

    def install(self, app: faust.App) -> None:
        api = self

        @app.page("/api/v1/rules")
        class RulesView(faust.web.View):
            async def get(self, request):
                return reply(self, api.status(caller(request)))

        @app.page("/api/v1/rules/check")
        class CheckView(faust.web.View):
            async def post(self, request):
                who, text, span = caller(request), await request.text(), request.query.get("backtest")
                return reply(self, api.check(who, text) if span is None else await api.backtest(who, text, span))
