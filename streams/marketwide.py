"""The market stage's glue: one app's day of a ``market:`` spike rule in, the alerts out.

The detect stage judges each app against its own baseline; for a rule with ``market:``
it does not fire the app's alert but sends it as a *move* (``Engine.take_moves``), and,
per market and day, the apps that reported the day. Moves meet in the control agent (one
partition: every market's apps in one place):

- the apps' days are soft state, in the engine's memory (``detectors.market``, O(1) a
  move); a worker that takes the control partition over starts them afresh;
- an alert that waits for its market, and whether a market's day fired, are kept in the
  control table (a key per market and day, written only when they change), so a crash
  loses neither.

Once every app of the market's day before has reported the day (or a later day has
begun, or ``wait`` has passed: the sweep), the day is judged:

- the market did not move as one: the held alerts fire as they are;
- it did: one ``market`` alert for the market, and an app's own alert only when it
  moved ``beyond`` times the market's median move, with the market's move beside it.

Backtest runs the same code, with event time as the clock.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping

from core.alert import Alert, alert_id
from streams import windows
from streams.detectors import market
from streams.rules import SpikeRule

log = logging.getLogger(__name__)
PENDING = "market|pending"  # state key: the market days that hold alerts


def key_of(move: dict) -> str:
    return f"{move['rule']}|market|{move['country']}|{move['platform']}|{move['metric']}"


def fold(rule: SpikeRule, move: dict, soft: dict, state: MutableMapping) -> list[Alert]:
    """Fold one move into its market (``soft``: the apps' days; ``state``: what waits):
    how many apps reported a day (``count``), or one app's alert; the alerts now due."""
    p, key, day, at = rule.params.market, key_of(move), move["day"], move["at"]
    s = soft.setdefault(key, market.init())
    newest = s["newest"]
    alert = move.get("alert")
    if alert is None:
        d = market.add(s, day, move["count"], at)
    else:
        d = market.add(s, day, move["new"], at, (move["app"], move["report"]))
    if d is None:  # a day its market has forgotten: judged alone
        return [] if alert is None else [Alert.model_validate(alert)]
    out = _ripe(rule, key, s, state, at) if s["newest"] > newest else []  # a new day: those before it are done
    kept = state.get(f"{key}|{day}")
    if alert is not None:  # it waits: a key of its own (O(1) a write), its app in the soft index
        state[f"{key}|{day}|{move['app']}"] = alert
        s.setdefault("held", {}).setdefault(day, set()).add(move["app"])
        kept = {"held": 0, "market": False, "first": d["first"], **(kept or {})}
        kept = {**kept, "held": kept["held"] + 1}
        _keep(state, key, day, kept, move)
    elif (kept is None or kept["market"]) and not market.moved(s, day, p):
        return out  # the common case: nothing waits, the market did not move (O(1))
    return out + judge(rule, move, s, kept, state, at)


def _ripe(rule: SpikeRule, key: str, s: dict, state: MutableMapping, now: float) -> list[Alert]:
    """The held alerts of the market's days before its newest: they can be judged now."""
    out = []
    for where in list((state.get(PENDING) or {}).values()):
        if key_of(where) == key and where["day"] < s["newest"]:
            out += judge(rule, where, s, state.get(f"{key}|{where['day']}"), state, now)
    return out


def sweep(rules: dict[str, SpikeRule], soft: dict, state: MutableMapping, now: float) -> list[Alert]:
    """Judge the days whose ``wait`` has passed by ``now``; a rule gone or no longer
    ``market:`` lets its held alerts go as they are."""
    out = []
    for where in list((state.get(PENDING) or {}).values()):
        rule, key, day = rules.get(where["rule"]), key_of(where), where["day"]
        kept = state.get(f"{key}|{day}")
        if kept is None:
            continue
        if rule is None:
            out += [Alert.model_validate(a) for a in _release(state, soft.get(key) or {}, key, day).values()]
            _keep(state, key, day, {**kept, "held": 0}, where)
        else:
            out += judge(rule, where, soft.get(key) or market.init(), kept, state, now)
    return out


def judge(rule: SpikeRule, where: dict, s: dict, kept: dict | None, state: MutableMapping, now: float) -> list[Alert]:
    """The alerts of ``where["day"]`` once it can be judged (``market.ready``); none before."""
    p, key, day = rule.params.market, key_of(where), where["day"]
    first = kept["first"] if kept else s["days"][day]["first"]
    if not market.ready(s, day, first, p, now):
        return []
    held = _release(state, s, key, day) if kept and kept["held"] else {}
    moved = market.moved(s, day, p)
    v = market.verdict(s, day) if moved else None
    out = []
    if moved and not (kept and kept["market"]):
        out.append(market_alert(rule, where, day, v, first))
    for app, a in held.items():
        alert = Alert.model_validate(a)
        if v is not None:
            ratio = (alert.value or 0.0) / (alert.baseline or 1.0)
            if not market.stands_out(ratio, v, p):
                log.info(
                    "%s: %s's %.1fx is its market's move (%.1fx); no alert of its own", rule.name, app, ratio, v.median
                )
                continue
            alert = alert.model_copy(
                update={"summary": f"{alert.summary}; its market {v.median:.1f}x", "market_ratio": v.median}
            )
        out.append(alert)
    if held or out:
        fired = bool(kept and kept["market"]) or moved
        _keep(state, key, day, {"held": 0, "market": fired, "first": first}, where)
    return out


def _release(state: MutableMapping, s: dict, key: str, day: int) -> dict[str, dict]:
    """Take the alerts held for ``day`` out of ``state``: app -> alert. Their apps come
    from the soft index, or, in a worker that took the control partition over, from the
    table's keys."""
    prefix = f"{key}|{day}|"
    apps = (s.get("held") or {}).pop(day, None)
    if apps is None:
        apps = [k[len(prefix) :] for k in list(state.keys()) if k.startswith(prefix)]
    out = {}
    for app in sorted(apps):
        a = state.pop(prefix + app, None)
        if a is not None:
            out[app] = a
    return out


def market_alert(rule: SpikeRule, where: dict, day: int, v: market.Verdict, first: float) -> Alert:
    """``first``: when the day's first move arrived (the alert's ``observed_at``)."""
    country, platform, metric = where["country"], where["platform"], where["metric"]
    labels = {"country": country, "platform": platform, "metric": metric, "scope": "market", **rule.labels}
    start, end = windows.bounds(day, rule.tz(country))
    top = sorted(v.movers.items(), key=lambda m: -m[1])
    apps = ", ".join(f"{a} {r:.1f}x" for a, r in top[:6]) + (", ..." if len(top) > 6 else "")
    return Alert(
        alert_id=alert_id(rule.name, labels, start),
        rule=rule.name,
        kind="market",
        severity=rule.severity,
        labels=labels,
        value=v.value,
        baseline=v.baseline,
        window_start=start,
        window_end=end,
        event_ts=(where.get("alert") or {}).get("event_ts") or start,  # the move that tipped it
        summary=(
            f"{country.upper()} market {metric} on {start[:10]} ({platform}): {len(v.movers)} of {v.apps} apps "
            f"moved together, {v.median:.1f}x their baselines (median): {apps}"
        ),
        observed_at=first,
        market_apps={a: round(r, 3) for a, r in top},
    )


def _keep(state: MutableMapping, key: str, day: int, kept: dict, where: dict) -> None:
    """Write a market day's count of held alerts and its fired flag (a Faust table keeps
    what is assigned; a day with neither is deleted) and the index of the days that hold
    alerts."""
    name = f"{key}|{day}"
    if kept["held"] or kept["market"]:
        state[name] = kept
    else:
        state.pop(name, None)
    pending = state.get(PENDING) or {}
    if bool(kept["held"]) != (name in pending):
        pending = dict(pending)
        if kept["held"]:
            pending[name] = {**{k: where[k] for k in ("rule", "country", "platform", "metric")}, "day": day}
        else:
            del pending[name]
        if pending:
            state[PENDING] = pending
        else:
            state.pop(PENDING, None)
