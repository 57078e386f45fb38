"""The rules' status and a check of an edited rules file, on the worker:

    GET  /api/v1/rules          each rule: its file and line, and its state (firing, pending or
                             ok) with what this worker saw of it (it reports itself as
                             ``worker``: the events of its partitions)
    POST /api/v1/rules/check    a rules YAML in the body, validated, not applied: 200 with the
                             rules it holds, or 400 with one ``file:line: field: message``
                             per problem

Both need a read token (``core.auth``): neither changes anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

import faust

from alerts.pipeline import firing_now
from core import yamlfile
from core.auth import Caller, Tokens
from streams import rules
from streams.detectors import threshold
from streams.metrics import StreamMetrics

from .api import Answer, caller, denied, reply
from .detect import Detect


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

    def status(self, who: Caller | str | None) -> Answer:
        if (no := denied(self.tokens, who, "read")) is not None:
            return no
        text, name = rules.source(self.path)
        at = rules.lines(text)
        firing, pending, fired = self._firing(), self._pending(), self._fired()
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
                return reply(self, api.check(caller(request), await request.text()))
