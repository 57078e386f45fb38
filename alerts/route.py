"""The routing tree, Alertmanager-style: which receivers get an alert, grouped how.

    route:
      receiver: everything
      group_by: [rule, app_id]
      group_wait: 0s
      group_interval: 1m
      repeat_interval: 4h
      routes:
        - matchers: ['app_id="doubao"']
          receiver: slack-market
          continue: true
    inhibit_rules:
      - source_matchers: ['severity="critical"']
        target_matchers: ['severity="warning"']
        equal: [app_id]

A child route inherits what it does not set. An alert goes down the tree depth
first; at each level the first matching child takes it, unless that child has
``continue: true``, in which case the next matching siblings take it too. When no
child matches, the node itself does. ``group_by: ["..."]`` groups by every label.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from core.matchers import Matchers, matches_all
from core.yamlfile import Duration

ALL_LABELS = "..."


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    receiver: str | None = None
    matchers: Matchers = []
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Annotated[Duration, Field(gt=0)] | None = None
    repeat_interval: Annotated[Duration, Field(gt=0)] | None = None
    continue_: bool = Field(False, alias="continue")
    routes: list[Route] = []


class InhibitRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source_matchers: Matchers
    target_matchers: Matchers
    equal: list[str] = []


@dataclass(frozen=True)
class Resolved:
    """A route with everything inherited filled in."""

    path: str  # e.g. "0.1": which node of the tree, part of the group key
    receiver: str
    group_by: tuple[str, ...]
    group_wait: float
    group_interval: float
    repeat_interval: float

    def group_labels(self, labels: dict[str, str]) -> dict[str, str]:
        if ALL_LABELS in self.group_by:
            return dict(sorted(labels.items()))
        return {k: labels.get(k, "") for k in self.group_by}


ROOT_DEFAULTS = Resolved(
    path="", receiver="", group_by=(), group_wait=30.0, group_interval=300.0, repeat_interval=4 * 3600.0
)


def _resolve(route: Route, parent: Resolved, path: str) -> Resolved:
    return Resolved(
        path=path,
        receiver=route.receiver or parent.receiver,
        group_by=tuple(route.group_by) if route.group_by is not None else parent.group_by,
        group_wait=route.group_wait if route.group_wait is not None else parent.group_wait,
        group_interval=route.group_interval or parent.group_interval,
        repeat_interval=route.repeat_interval or parent.repeat_interval,
    )


def node(root: Route, path: str) -> Resolved:
    """The resolved route at ``path`` ("0.1.0": the root's second child's first child)."""
    here = _resolve(root, ROOT_DEFAULTS, "0")
    for i in path.split(".")[1:]:
        root = root.routes[int(i)]
        here = _resolve(root, here, f"{here.path}.{i}")
    return here


def match(root: Route, labels: dict[str, str]) -> list[Resolved]:
    """Every route that takes an alert with these labels (the root takes what nothing else does)."""
    return _walk(root, _resolve(root, ROOT_DEFAULTS, "0"), labels)


def _walk(route: Route, here: Resolved, labels: dict[str, str]) -> list[Resolved]:
    found: list[Resolved] = []
    for i, child in enumerate(route.routes):
        if not matches_all(child.matchers, labels):
            continue
        found += _walk(child, _resolve(child, here, f"{here.path}.{i}"), labels)
        if not child.continue_:
            break
    return found or [here]


def inhibited(labels: dict[str, str], firing: list[dict[str, str]], rules: list[InhibitRule]) -> bool:
    """True when a firing alert matching a rule's source mutes these target labels."""
    return any(_inhibits(source, labels, rules) for source in firing)


def inhibitors(labels: dict[str, str], firing: Mapping[str, dict[str, str]], rules: list[InhibitRule]) -> list[str]:
    """The ids of the firing alerts that mute these labels (Alertmanager's ``inhibitedBy``)."""
    return sorted(aid for aid, source in firing.items() if _inhibits(source, labels, rules))


def _inhibits(source: dict[str, str], labels: dict[str, str], rules: list[InhibitRule]) -> bool:
    if source is labels or source == labels:
        return False
    return any(
        matches_all(rule.target_matchers, labels)
        and matches_all(rule.source_matchers, source)
        and all(source.get(k, "") == labels.get(k, "") for k in rule.equal)
        for rule in rules
    )
