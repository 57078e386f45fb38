"""Rules reload: the rules file is read again when it changes; a bad file is rejected
and the old rules keep running."""

from __future__ import annotations

import logging
import os

import faust
from prometheus_client import CollectorRegistry, Counter

from core.calendar import Calendar
from core.yamlfile import ConfigError
from streams import rules
from streams.engine import Engine

log = logging.getLogger(__name__)

RELOAD_EVERY = 1.0  # seconds between rules-file checks


class RulesReload:
    def __init__(self, engine: Engine, path, registry: CollectorRegistry) -> None:
        self.engine, self.path = engine, path
        self.reloads = Counter(
            "appwatch_rules_reload_total", "Rules file reloads by outcome", ["outcome"], registry=registry
        )
        self.stamp = self._stamp()

    def _stamp(self):
        try:
            st = os.stat(self.path)
            return st.st_mtime_ns, st.st_size
        except (OSError, TypeError):  # TypeError: no file (the shipped pack)
            return None

    def check(self) -> None:
        stamp = self._stamp()
        if stamp == self.stamp:
            return
        self.stamp = stamp
        try:
            ruleset = rules.load(self.path)
        except ConfigError as exc:
            self.reloads.labels("error").inc()
            log.error("rules reload rejected, the old rules keep running:\n%s", exc)
            return
        self.engine.rules = ruleset.rules
        self.engine.calendar = Calendar(ruleset.calendar)
        self.reloads.labels("ok").inc()
        log.warning("rules reloaded from %s: %d rules", self.path, len(ruleset.rules))

    def install(self, app: faust.App) -> None:
        if self.path is None:
            return

        @app.timer(RELOAD_EVERY)
        async def reload_rules():
            self.check()
