"""Apply rules to events. The same code runs in the Faust worker and in backtest.

The work is split by where its state must live:

- ``metric``: series rules (spike, change, threshold, milestone) over a dict of
  ``series.SeriesState``; the worker's detect stage keeps one such dict per partition of
  the metrics topic, backtest one for everything. O(1) per event, and idempotent: an
  event already folded in (same ``event_id``, or an input offset the state holds) is
  counted as a duplicate and changes nothing;
- ``rank``, ``news``, ``seen``, ``sweep``, ``correlate``: chart snapshots, recent news,
  sources' last-seen times, over any mutable mapping of JSON-able values (a Faust table
  in the worker); these need every event of their kind, so the worker runs them on one
  partition (the control topic);
- ``process``: all of it in order, with event time as the clock (backtest).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from core.alert import Alert, alert_id
from core.calendar import Calendar
from core.events import AppMetric, AppRank, Event, MetricEvent, News
from streams import enrich, marketwide, series, windows
from streams.detectors import (
    change,
    deadman,
    milestone,
    news_match,
    rank,
    seasonal,
    spike,
    threshold,
)
from streams.rules import (
    ChangeRule,
    DeadmanRule,
    MilestoneRule,
    NewsMatchRule,
    RankRule,
    RuleSet,
    SpikeRule,
    ThresholdRule,
)

State = MutableMapping[str, object]
log = logging.getLogger(__name__)
# How far an event's ``ts`` may be ahead of the time it entered Kafka (``observed_at``):
# clock skew, a feed stamped in the wrong zone, a day total stamped at the day's end. An
# event further ahead is refused: folded in, it would make its day the series' newest, drop
# the real days (``keep_days`` behind it) and leave every later real event "too late".
MAX_AHEAD_SECONDS = 86400.0
CONTEXT_DAYS = 7
NEWS_KEEP_DAYS = 30
NEWS_KEEP_ITEMS = 200
CONTEXT_ITEMS = 5
# Event ids are remembered (and events refused as too late) this many days beyond the
# largest ``allowed_lateness_days`` of the rules: day windows cut in any time zone, DST.
HORIZON_SLACK_DAYS = 2
EFFECT_LOOK = 7  # days back a seasonal rule looks for special days whose effect it has not kept
SERIES_FIELDS = frozenset({"type", "app_id", "platform", "country", "metric"})  # fixed per series


def too_far_ahead(ev: Event, observed_at: float | None) -> bool:
    """``ev.ts`` more than ``MAX_AHEAD_SECONDS`` after the time it entered Kafka. Without
    ``observed_at`` (backtest) event time is taken as it is."""
    return observed_at is not None and ev.epoch - observed_at > MAX_AHEAD_SECONDS


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


class Engine:
    def __init__(
        self,
        rules: RuleSet,
        companies: dict[str, str] | None = None,
        on_too_late: Callable[[Event], None] | None = None,
        on_news: Callable[[News], None] | None = None,
        on_ahead: Callable[[Event], None] | None = None,
        on_duplicate: Callable[[Event], None] | None = None,
    ) -> None:
        """``on_too_late(ev)``: once per event too old for a series rule's window.
        ``on_ahead(ev)``: once per event refused for a ``ts`` more than
        ``MAX_AHEAD_SECONDS`` after its ``observed_at``; without it, ``on_too_late``.
        ``on_duplicate(ev)``: once per event already folded in (or already seen, for news)."""
        self.companies = companies or {}  # app_id -> company, from the app catalog
        self.tracked = set(self.companies.values())
        self.on_too_late = on_too_late
        self.on_ahead = on_ahead
        self.on_news = on_news  # each news event once, enriched
        self.on_duplicate = on_duplicate
        self.on_rules: Callable[[], None] | None = None  # called after ``rules`` changes
        self.evaluations: Counter[str] = Counter()  # rule -> events it was evaluated on
        self.earliest_due = float("-inf")  # the soonest a pending threshold can fire: -inf, look
        # market rules, since ``take_moves``: the apps that reported a day, the alerts they fire
        # (rule name, country, platform, metric, day) -> [first seen, apps that reported it, no move]
        self._reported: dict[tuple, list] = {}
        self._moves: list[tuple] = []  # (event, day, alert, whether it is the app's first report of the day)
        self.markets: dict[str, dict] = {}  # the control agent's markets: the apps' days (soft state)
        self.rules = rules.rules
        self.calendar = Calendar(rules.calendar)  # the markets' special days, with the rules file's own

    @property
    def rules(self) -> list:
        return self._rules

    @rules.setter
    def rules(self, rules: list) -> None:
        self._rules = rules
        kinds = (SpikeRule, ChangeRule, ThresholdRule, MilestoneRule)
        mine = [r for r in rules if isinstance(r, kinds)]
        fixed = [r for r in mine if all(m.name in SERIES_FIELDS for m in r.match.matchers)]
        self._fixed = fixed  # whether they apply depends on the series only: decided once per series
        self._varying = [r for r in mine if r not in fixed]
        self._for_series: dict[str, tuple] = {}
        self._up = {r.name: r.params.model_copy(update={"direction": "up"}) for r in mine if isinstance(r, ChangeRule)}
        self._lookback = {r.name: r.params.lookback for r in mine if isinstance(r, SpikeRule)}
        self._market = {r.name: r for r in mine if isinstance(r, SpikeRule) and r.params.market is not None}
        lateness = [r.params.allowed_lateness_days for r in mine if isinstance(r, (SpikeRule, ChangeRule))]
        self.horizon = (max(lateness, default=2) + HORIZON_SLACK_DAYS) * 86400.0
        if self.on_rules:
            self.on_rules()

    def _ahead(self, ev: Event, observed_at: float | None) -> bool:
        """True (and counted) when ``ev.ts`` is too far after the time it entered Kafka."""
        if not too_far_ahead(ev, observed_at):
            return False
        log.warning(
            "event %s refused: its ts %s is %.1f h after it entered Kafka",
            ev.event_id,
            ev.ts.isoformat(),
            (ev.ts.timestamp() - observed_at) / 3600,
        )
        count = self.on_ahead or self.on_too_late
        if count:
            count(ev)
        return True

    def _of(self, kind: type) -> list:
        return [r for r in self.rules if isinstance(r, kind)]

    def _duplicate(self, ev: Event) -> list[Alert]:
        if self.on_duplicate:
            self.on_duplicate(ev)
        return []

    # -- series rules ------------------------------------------------------

    def metric(
        self,
        ev: AppMetric | MetricEvent,
        state: dict[str, series.SeriesState],
        observed_at: float | None = None,
        offset: int | None = None,
        changed: set[str] | None = None,
    ) -> list[Alert]:
        """Fold ``ev`` into its series in ``state``; the alerts it fires. ``offset``: its
        input offset (the detect stage), to skip what the state already holds after a
        replay. The series' key is added to ``changed`` when its state changed."""
        t = ev.epoch
        if observed_at is not None and t - observed_at > MAX_AHEAD_SECONDS and self._ahead(ev, observed_at):
            return []
        key = f"{ev.app_id}|{ev.platform}|{ev.country}|{ev.metric}"  # series.key, inlined
        st = state.get(key)
        if st is None:
            st = state[key] = series.SeriesState()
        ids = st.ids
        if (offset is not None and offset <= st.offset) or ev.event_id in ids:
            return self._duplicate(ev)
        if t < st.newest - self.horizon:  # its id may be forgotten: it could be a repeat
            if self.on_too_late:
                self.on_too_late(ev)
            return []
        rules = self._for_series.get(key)
        if rules is None:
            rules = self._for_series[key] = tuple(r for r in self._fixed if r.applies(ev))
        if self._varying:
            rules += tuple(r for r in self._varying if r.applies(ev))
        out, too_late, folds, evaluations = [], False, st.rules, self.evaluations
        for rule in rules:
            evaluations[rule.name] += 1
            kind = rule.__class__
            if kind is SpikeRule or kind is ChangeRule:
                fold = folds.get(rule.name)
                if fold.__class__ is not windows.Daily:
                    fold = folds[rule.name] = windows.Daily()
                took, alert = self._daily(rule, fold, ev, observed_at)
                too_late |= not took
            elif kind is ThresholdRule:
                timed, alert = self._threshold(rule, folds, ev, t, observed_at)
                if timed is not None:
                    timed.observed_at = observed_at
                    out.append(timed)
            else:
                alert = self._milestone(rule, folds, ev)
            if alert is not None:
                alert.observed_at = observed_at
                out.append(alert)
        if too_late and self.on_too_late:
            self.on_too_late(ev)  # once per event, however many rules found it too old
        ids[ev.event_id] = t
        if offset is not None:
            st.offset = offset
        if t > st.newest:
            cutoff = t - self.horizon
            st.newest = t
            while True:  # forget the ids behind the horizon: the oldest come first, mostly
                first = next(iter(ids))
                if ids[first] >= cutoff:
                    break
                del ids[first]
        if changed is not None:
            changed.add(key)
        return out

    def forget_baselines(self, states: Iterable[series.SeriesState]) -> None:
        """After a rules change: the baselines kept in the windows were computed with the
        old parameters."""
        for st in states:
            for fold in st.rules.values():
                if fold.__class__ is windows.Daily:
                    fold.base_for = 0

    def take_moves(self) -> list[dict]:
        """What ``market:`` spike rules saw since the last call, JSON-able, for ``market``
        (``marketwide``), oldest day first: per market and day how many apps first reported
        it and did not move (``count``), then each app's alert with its day (``app``,
        ``report``, ``alert``; ``new``: 1 when it is the app's first report of the day)."""
        if not self._reported and not self._moves:
            return []
        reported, moves = self._reported, self._moves
        self._reported, self._moves = {}, []
        out = [
            dict(rule=rule, country=c, platform=p, metric=m, day=day, at=at, count=n)
            for (rule, c, p, m, day), (at, n) in reported.items()
        ]
        for ev, day, alert, first in moves:
            where = dict(rule=alert.rule, country=ev.country, platform=ev.platform, metric=ev.metric, day=day)
            report = [alert.value / alert.baseline, alert.value, alert.baseline]
            at = ev.epoch if alert.observed_at is None else alert.observed_at
            out.append(
                {
                    **where,
                    "at": at,
                    "app": ev.app_id,
                    "report": report,
                    "new": int(first),
                    "alert": alert.model_dump(mode="json"),
                }
            )
        out.sort(key=lambda m: (m["day"], "alert" in m))  # a day's reports before its alerts
        return out

    def market(self, move: dict, state: State) -> list[Alert]:
        """Fold one app's day into its market (the control agent; ``marketwide``): the
        alerts now due. A move of a rule that is gone lets its alert go as it is."""
        rule = self._market.get(move["rule"])
        if rule is None:
            return [Alert.model_validate(move["alert"])] if "alert" in move else []
        return marketwide.fold(rule, move, self.markets, state)

    def _daily(
        self, rule: SpikeRule | ChangeRule, w: windows.Daily, ev, observed_at: float | None = None
    ) -> tuple[bool, Alert | None]:
        """Spike and change: fold into daily windows, decide once per day. False if too late.

        A running (``mode: delta``) day can only be judged upward while it runs; a
        change rule judges it downward when the next day's first event closes it.
        """
        p, tz = rule.params, rule.tz(ev.country)
        spiking = rule.__class__ is SpikeRule
        lookback = self._lookback[rule.name] if spiking else p.lag_days
        day = windows.day_of(ev.ts, tz)
        newest = w.newest if w.totals else day
        if not windows.add(w, day, ev.value, ev.mode, lookback + p.allowed_lateness_days, p.allowed_lateness_days):
            return False, None
        judge, params = day, p
        if not spiking and ev.mode == "delta" and p.direction != "up":
            if newest < day and newest not in w.fired:
                judge = newest  # yesterday is over: judge it fully
            elif p.direction == "both":
                params = self._up[rule.name]  # today, so far: only upward
            else:
                return True, None
        if judge in w.fired:
            return True, None
        value = windows.total(w, judge)
        if value is None:
            return True, None
        if spiking:
            first = w.base_for != judge  # the day's first judgement: its baseline, once
            if first:
                cal = None if p.widen_only else self.calendar  # (asked only of a day that would fire)
                w.base, w.widen, _ = spike_basis(rule, w, judge, ev.country, cal, words=False)
                w.base_for = judge
                if p.holidays == "last_year" and self.calendar.special(ev.country, judge):
                    windows.mark(w, judge)
                elif p.baseline == "seasonal" and p.holidays != "ignore":
                    note_effects(rule, w, judge, ev.country, self.calendar)
            hit = spike.judge(value, w.base, p, w.widen)
            if hit is not None and p.widen_only:  # a special day may widen the band: ask the calendar now
                b, widen, _ = spike_basis(rule, w, judge, ev.country, self.calendar, words=False)
                hit = spike.judge(value, b, p, widen)
            if p.market is not None and first and hit is None:  # one more app of its market reported the day
                where = (rule.name, ev.country, ev.platform, ev.metric, judge)  # (``take_moves``)
                seen = self._reported.get(where)
                if seen is None:
                    self._reported[where] = [ev.epoch if observed_at is None else observed_at, 1]
                else:
                    seen[1] += 1
            if hit is None:
                return True, None
            base = hit.baseline
            view = explain_day(rule, w, judge, ev.country, self.calendar)  # the day as judged: its words, its chart
            extra = dict(ratio=hit.ratio, zscore=hit.zscore or 0.0, baseline_days=p.baseline_days, method=view.method)
        else:
            base = windows.total(w, judge - p.lag_days)
            pct = change.detect(value, base, params)
            if pct is None:
                return True, None
            extra = dict(change=pct, ratio=value / base)
            view = explain_day(rule, w, judge)
        w.fired.append(judge)
        alert = _daily_alert(rule, ev, judge, value, base, extra, newest, _chart(w, view, not spiking and value < base))
        if spiking and p.market is not None:  # its market judges it (``take_moves``)
            alert.observed_at = observed_at
            self._moves.append((ev, judge, alert, first))
            return True, None
        return True, alert

    def _threshold(
        self, rule: ThresholdRule, folds: dict, ev, t: float, observed_at: float | None
    ) -> tuple[Alert | None, Alert | None]:
        """(the timer's firing alert, had its time come before this event; this event's alert)."""
        before = folds.get(rule.name)
        if before.__class__ is not threshold.State:
            before = None
        labels, timed = _series_labels(rule, ev), None
        if before is not None and threshold.expired(before, t if observed_at is None else observed_at):
            timed = self._threshold_alert(
                rule, labels, before.since, before.value, "firing", _iso(before.due), ev.app_name, None
            )
            before = threshold.State(before.since, True, None, before.value)
        new, transition = threshold.step(rule.params, before, ev.value, t, observed_at)
        folds[rule.name] = new
        if new.due is not None:
            self.earliest_due = min(self.earliest_due, new.due)
        if transition is None:
            return timed, None
        since = (before or new).since if transition == "resolved" else new.since
        return timed, self._threshold_alert(
            rule, labels, since, ev.value, transition, ev.ts.isoformat(), ev.app_name, ev.event_id
        )

    def sweep_series(
        self, parts: dict[int, dict[str, series.SeriesState]], now: float, changed: dict[int, set[str]] | None = None
    ) -> list[Alert]:
        """Fire the threshold breaches whose ``for`` has passed by ``now`` with no event to
        say so (Prometheus evaluates ``for:`` on a timer too). ``parts``: partition ->
        series; the keys it changes are added to ``changed[partition]``."""
        if now < self.earliest_due:
            return []
        rules = {r.name: r for r in self._fixed + self._varying if r.__class__ is ThresholdRule}
        out, earliest = [], float("inf")
        for part, state in parts.items():
            for key, st in state.items():
                for name, fold in st.rules.items():
                    if fold.__class__ is not threshold.State or fold.due is None or fold.firing:
                        continue
                    rule = rules.get(name)
                    if rule is None:
                        continue
                    if not threshold.expired(fold, now):
                        earliest = min(earliest, fold.due)
                        continue
                    st.rules[name] = threshold.State(fold.since, True, None, fold.value)
                    app_id, platform, country, metric = key.split("|")
                    labels = {
                        "app_id": app_id,
                        "platform": platform,
                        "country": country,
                        "metric": metric,
                        **rule.labels,
                    }
                    out.append(
                        self._threshold_alert(
                            rule, labels, fold.since, fold.value, "firing", _iso(fold.due), None, None
                        )
                    )
                    if changed is not None:
                        changed.setdefault(part, set()).add(key)
        self.earliest_due = earliest
        return out

    def _threshold_alert(
        self,
        rule: ThresholdRule,
        labels: dict,
        since: float,
        value: float,
        status: str,
        at: str,
        app_name: str | None,
        source: str | None,
    ) -> Alert:
        start = _iso(since)
        fields = dict(
            rule=rule.name,
            severity=rule.severity,
            app_name=app_name or labels["app_id"],
            **{k: labels[k] for k in ("app_id", "platform", "country", "metric")},
            value=value,
            threshold=rule.params.value,
        )
        return Alert(
            alert_id=alert_id(rule.name, labels, start),
            rule=rule.name,
            kind="threshold",
            status=status,
            severity=rule.severity,
            labels=labels,
            value=value,
            resolves=True,
            baseline=rule.params.value,
            window_start=start,
            window_end=at if status == "resolved" else None,
            event_ts=at,
            summary=rule.render(fields),
            source_event_id=source,
        )

    def _milestone(self, rule: MilestoneRule, folds: dict, ev) -> Alert | None:
        before = folds.get(rule.name)
        previous = before.last if before.__class__ is milestone.State else None
        folds[rule.name] = milestone.State(max(ev.value, previous or 0.0))
        hit = milestone.step(rule.params, previous, ev.value)
        if hit is None:
            return None
        labels = _series_labels(rule, ev)
        start = f"{hit:.0f}"
        return Alert(
            alert_id=alert_id(rule.name, labels, start),
            rule=rule.name,
            kind="milestone",
            severity=rule.severity,
            labels={**labels, "milestone": f"{hit:.0f}"},
            value=ev.value,
            baseline=hit,
            window_start=ev.ts.isoformat(),
            event_ts=ev.ts.isoformat(),
            summary=rule.render(_fields(rule, ev, value=ev.value, milestone=hit)),
            source_event_id=ev.event_id,
        )

    # -- control: ranks, news, sources -------------------------------------

    def rank(self, ev: AppRank, state: State, observed_at: float | None = None) -> list[Alert]:
        if self._ahead(ev, observed_at):
            return []  # a snapshot from the future would make every real one "older"
        out = []
        chart = {"platform": ev.platform, "country": ev.country, "chart": ev.chart, "category": ev.category}
        for rule in self._of(RankRule):
            if not rule.applies(ev):
                continue
            self.evaluations[rule.name] += 1
            key = f"{rule.name}|chart|{ev.platform}|{ev.country}|{ev.chart}|{ev.category}"
            new, moves = rank.observe(rule.params, state.get(key), ev.app_id, ev.rank, ev.ts.timestamp())
            state[key] = new
            for mv in moves:
                labels = {"app_id": mv.app_id, **chart, **rule.labels}
                name = ev.app_name if mv.app_id == ev.app_id and ev.app_name else mv.app_id
                fields = dict(
                    rule=rule.name,
                    severity=rule.severity,
                    app_id=mv.app_id,
                    app_name=name,
                    rank=mv.rank if mv.rank is not None else "out",
                    previous=mv.previous if mv.previous is not None else "unranked",
                    **chart,
                )
                start = _iso(mv.snapshot_ts)
                out.append(
                    Alert(
                        alert_id=alert_id(rule.name, labels, start),
                        rule=rule.name,
                        kind="rank",
                        severity=rule.severity,
                        labels=labels,
                        value=mv.rank,
                        baseline=mv.previous,
                        window_start=start,
                        event_ts=ev.ts.isoformat(),
                        summary=rule.render(fields),
                        observed_at=observed_at,
                        source_event_id=ev.event_id,
                    )
                )
        return out

    def news(self, ev: News, state: State, observed_at: float | None = None) -> list[Alert]:
        if self._ahead(ev, observed_at):
            return []  # remembered, it would push every real item out of the news memory
        if self._news_seen(ev, state):
            return self._duplicate(ev)
        ev = enrich.enrich(ev)
        if self.on_news:
            self.on_news(ev)
        self._remember(ev, state)
        text = f"{ev.title}\n{ev.summary or ''}"
        out = []
        for rule in self._of(NewsMatchRule):
            if not rule.applies(ev):
                continue
            self.evaluations[rule.name] += 1
            roles = {"from_company": ev.from_company, "to_company": ev.to_company, "confidence": ev.confidence}
            if not news_match.matches(
                rule.params, ev.kind, ev.companies or [], ev.people or [], text, self.tracked, roles
            ):
                continue
            labels = {**_news_labels(ev), **rule.labels}
            fields = dict(
                rule=rule.name, severity=rule.severity, title=ev.title, url=ev.url, source=ev.source, **labels
            )
            out.append(
                Alert(
                    alert_id=alert_id(rule.name, {"event_id": ev.event_id}, ev.ts.isoformat()),
                    rule=rule.name,
                    kind="news",
                    severity=rule.severity,
                    labels=labels,
                    window_start=ev.ts.isoformat(),
                    event_ts=ev.ts.isoformat(),
                    summary=rule.render(fields),
                    context=[_brief(ev)],
                    observed_at=observed_at,
                    source_event_id=ev.event_id,
                )
            )
        return out

    def _news_seen(self, ev: News, state: State) -> bool:
        """True if this ``event_id`` came before (then nothing else happens); else recorded.
        Ids are kept per UTC day of ``ts``, for ``NEWS_KEEP_DAYS`` behind the newest day."""
        day = ev.ts.astimezone(UTC).date()
        key = f"news-seen|{day}"
        ids = state.get(key) or []
        if ev.event_id in ids:
            return True
        state[key] = [*ids, ev.event_id]
        days = state.get("news-seen") or []
        if day.isoformat() not in days:
            days = sorted([*days, day.isoformat()])
            cutoff = (date.fromisoformat(days[-1]) - timedelta(days=NEWS_KEEP_DAYS)).isoformat()
            for old in (d for d in days if d < cutoff):
                del state[f"news-seen|{old}"]
            state["news-seen"] = [d for d in days if d >= cutoff]
        return False

    def _remember(self, ev: News, state: State) -> None:
        t = ev.ts.timestamp()
        # the resolved entities: every company named, and both sides of a move
        for company in sorted({*(ev.companies or []), *({ev.from_company, ev.to_company} - {None})}):
            key = f"news|{company}"
            items = [i for i in state.get(key) or [] if i["event_id"] != ev.event_id]
            items.append({**_brief(ev), "t": t})
            newest = max(i["t"] for i in items)
            items = [i for i in items if newest - i["t"] <= NEWS_KEEP_DAYS * 86400]
            state[key] = sorted(items, key=lambda i: i["t"])[-NEWS_KEEP_ITEMS:]

    def correlate(self, alert: Alert, state: State) -> Alert:
        """Attach the news of the previous days that names the app's company."""
        company = self.companies.get(alert.labels.get("app_id", ""))
        if not company or alert.kind == "news":
            return alert
        end = datetime.fromisoformat(alert.event_ts).timestamp()
        start = end - CONTEXT_DAYS * 86400
        items = [i for i in state.get(f"news|{company}") or [] if start <= i["t"] <= end]
        items = sorted(items, key=lambda i: -i["t"])[:CONTEXT_ITEMS]
        if not items:
            return alert
        return alert.model_copy(update={"context": [{k: v for k, v in i.items() if k != "t"} for i in items]})

    def seen(self, ev: Event, t: float, state: State) -> list[Alert]:
        """Record that ``ev.source`` is alive at ``t``; resolve its deadman alerts."""
        out = []
        for rule in self._of(DeadmanRule):
            if not rule.match.matches(ev):
                continue
            key = f"{rule.name}|deadman"
            s = state.get(key) or {"seen": {}, "firing": {}}
            last = s["seen"].get(ev.source)
            if last is not None and t <= last:
                continue
            firing = dict(s["firing"])
            if ev.source in firing:
                out.append(self._silence(rule, ev.source, firing.pop(ev.source), t, "resolved"))
            state[key] = {"seen": {**s["seen"], ev.source: t}, "firing": firing}
        return out

    def sweep(self, now: float, state: State) -> list[Alert]:
        """Fire deadman alerts for sources silent too long, and judge the market days whose
        ``wait`` passed (a wall-clock timer calls it)."""
        out = marketwide.sweep(self._market, self.markets, state, now) if state.get(marketwide.PENDING) else []
        for rule in self._of(DeadmanRule):
            key = f"{rule.name}|deadman"
            s = state.get(key)
            if not s:
                continue
            fire, _ = deadman.sweep(rule.params, s["seen"], set(s["firing"]), now)
            if not fire:
                continue
            firing = dict(s["firing"])
            for source in fire:
                firing[source] = s["seen"][source]
                out.append(self._silence(rule, source, s["seen"][source], now, "firing"))
            state[key] = {"seen": s["seen"], "firing": firing}
        return out

    def _silence(self, rule: DeadmanRule, source: str, last: float, now: float, status: str) -> Alert:
        labels = {"source": source, **rule.labels}
        start = _iso(last)
        fields = dict(rule=rule.name, severity=rule.severity, source=source, silent_hours=(now - last) / 3600)
        return Alert(
            alert_id=alert_id(rule.name, labels, start),
            rule=rule.name,
            kind="deadman",
            status=status,
            severity=rule.severity,
            labels=labels,
            window_start=start,
            resolves=True,
            window_end=_iso(now) if status == "resolved" else None,
            event_ts=_iso(now),
            value=(now - last) / 3600,
            summary=rule.render(fields),
        )

    # -- explain: what the rules see (read-only; backtest's report) ----------

    def explain(self, ev: Event, state: State) -> list[Observation]:
        """What each rule that looked at ``ev`` sees of its series now, ``ev`` being
        folded into ``state`` (as ``process`` keeps it) already: a spike or change rule
        the ``DayView`` of ``ev``'s day, a threshold or milestone rule the observation, a
        rank rule the app's rank in the chart's state. Nothing for an event the series
        refused (too far behind its newest) or a rank the chart did not take. Changes
        nothing."""
        if ev.type == "app.rank":
            return self._explain_rank(ev, state)
        if ev.type != "app.metric":
            return []
        key = series.key(ev)
        st = (state.get("series") or {}).get(key)
        if st is None or ev.epoch < st.newest - self.horizon:
            return []
        rules = self._for_series.get(key)
        if rules is None:
            rules = tuple(r for r in self._fixed if r.applies(ev))
        out = []
        for rule in rules + tuple(r for r in self._varying if r.applies(ev)):
            if rule.__class__ is SpikeRule or rule.__class__ is ChangeRule:
                fold = st.rules.get(rule.name)
                view = (
                    explain_day(rule, fold, windows.day_of(ev.ts, rule.tz(ev.country)), ev.country, self.calendar)
                    if fold.__class__ is windows.Daily
                    else None
                )
                if view is not None:
                    out.append(Observation(rule.name, key, ev.ts, view.total, view))
            else:
                out.append(Observation(rule.name, key, ev.ts, ev.value))
        return out

    def _explain_rank(self, ev: AppRank, state: State) -> list[Observation]:
        out, t = [], ev.ts.timestamp()
        chart = f"{ev.platform}|{ev.country}|{ev.chart}|{ev.category}"
        for rule in self._of(RankRule):
            held = ((state.get(f"{rule.name}|chart|{chart}") or {}).get("apps") or {}).get(ev.app_id)
            if rule.applies(ev) and held is not None and held[0] == t:
                out.append(Observation(rule.name, f"{ev.app_id}|{chart}", ev.ts, float(held[1])))
        return out

    def explain_alert(self, alert: Alert, state: State) -> DayView | None:
        """The ``DayView`` of the day a spike or change ``alert`` judged, from its series'
        fold in ``state``: call it when the alert has just fired. None for other kinds."""
        rule = next((r for r in self.rules if r.name == alert.rule), None)
        key = series_of(alert)
        if not isinstance(rule, (SpikeRule, ChangeRule)) or key is None or not alert.window_start:
            return None
        st = (state.get("series") or {}).get(key)
        fold = st.rules.get(rule.name) if st is not None else None
        if fold.__class__ is not windows.Daily:
            return None
        country = alert.labels.get("country", "")
        day = windows.day_of(datetime.fromisoformat(alert.window_start), rule.tz(country))
        return explain_day(rule, fold, day, country, self.calendar)

    # -- backtest: everything, event time as the clock ------------------------

    def process(self, ev: Event, state: State, now: float | None = None) -> list[Alert]:
        """``now``: when the event arrived (backtest: the wall clock), to refuse events from
        the future; their time would become the clock of every series and source."""
        if self._ahead(ev, now):
            return []
        t = ev.ts.timestamp()
        clock = max(float(state.get("clock") or t), t)
        state["clock"] = clock
        if ev.type == "app.metric":
            alerts = self.metric(ev, state.setdefault("series", {}))
            for move in self.take_moves():
                alerts += self.market(move, state)
        elif ev.type == "app.rank":
            alerts = self.rank(ev, state)
        else:
            alerts = self.news(ev, state)
        alerts += self.seen(ev, t, state)
        alerts += self.sweep(clock, state)
        return [self.correlate(a, state) for a in alerts]

    def finish(self, state: State) -> list[Alert]:
        """At the end of a backtest: sweep once more at the last event time. Threshold
        breaches are swept only here: a file's event-time clock can run ahead of a series
        (other series' later events come first), and a series' own later events already
        fire or end its breach; what none of them judged fires now, if its ``for`` ended
        by the last event time (the worker's timer runs on the wall clock instead)."""
        clock = state.get("clock")
        if not clock:
            return []
        return self.sweep(float(clock), state) + self.sweep_series({0: state.setdefault("series", {})}, clock)


@dataclass(frozen=True)
class DayView:
    """One day of one series as a spike or change rule judges it (``explain_day``)."""

    day: int  # ordinal, in the rule's time zone
    total: float  # the day's total in the rule's window
    baseline: float | None  # spike: the trailing baseline; change: the total ``lag_days`` before
    fire_at: float | None  # the least total that fires (upward); None: none can
    fire_below: float | None = None  # change, down or both: the greatest total that fires
    ratio: float | None = None  # spike: ``total`` against the baseline, when ``total`` fires
    change: float | None = None  # change: percent against the baseline, when ``total`` fires
    method: str | None = None  # spike: the baseline in words
    special: str | None = None  # spike: the market's special day that widened or replaced the baseline


@dataclass(frozen=True)
class Observation:
    """One event as a rule sees it (``Engine.explain``)."""

    rule: str
    series: str  # ``series_of``: app|platform|country|metric, or app|platform|country|chart|category
    ts: datetime
    value: float  # the observation (a rank for a rank rule; the day's total for a daily rule)
    day: DayView | None = None  # spike and change rules


def _daily_alert(rule, ev, day: int, value: float, base: float, extra: dict, newest: int, chart: dict) -> Alert:
    """The alert of a spike or change rule's ``day`` (``newest``: the window's newest day before it)."""
    labels = _series_labels(rule, ev)
    start, end = windows.bounds(day, rule.tz(ev.country))
    fields = _fields(rule, ev, value=value, baseline=base, day=date_of(day), **extra)
    return Alert(
        alert_id=alert_id(rule.name, labels, start),
        rule=rule.name,
        kind=rule.kind,
        severity=rule.severity,
        labels=labels,
        value=value,
        baseline=base,
        window_start=start,
        window_end=end,
        event_ts=ev.ts.isoformat(),
        summary=rule.render(fields),
        late=day < newest,
        source_event_id=ev.event_id,
        **chart,
    )


def spike_basis(
    rule: SpikeRule, w: windows.Daily, day: int, country: str, cal: Calendar | None, words: bool = True
) -> tuple[spike.Baseline | None, float, str | None]:
    """Pure: (baseline, widen, note) that ``rule`` judges ``day`` of the window ``w``
    against (``_own_basis``: the rule's ``baseline``, or the trailing median while a weekday or
    seasonal rule lacks its days); on a special day of ``country``'s calendar, ``holidays: widen`` widens the
    band and ``last_year`` takes the same special day last year as the baseline (if the
    window kept it). ``note`` is the baseline in words when it is not the rule's own
    (``basis_text`` says it then); None on the common path, which stays cheap, and
    without ``words`` (the detect stage, which needs the words only when an alert fires)."""
    p = rule.params
    b, band, note = _own_basis(rule, w, day, country, cal)
    if p.holidays == "ignore" or cal is None:
        return b, band, note
    name = cal.special(country, day, p.holiday_around)
    if name is None:
        return b, band, note
    learned = _with_effect(rule, w, b, day, country, cal) if p.baseline == "seasonal" else None
    if learned is not None:
        return learned[0], band, learned[1]
    last = cal.same_day_last_year(country, day) if p.holidays == "last_year" else None
    then = w.marks.get(last) if last is not None else None
    if then is not None and then >= p.min_baseline:
        sd = b[2] if b is not None else 0.01 * then
        return (then, then, max(sd, 0.01 * then)), 1.0, f"{name} last year ({date_of(last)})"
    wide = band * p.holiday_widen
    return b, wide, f"{note or basis_text(rule, day)}, band {p.holiday_widen:g}x wider for {name}" if words else None


def _own_basis(
    rule: SpikeRule, w: windows.Daily, day: int, country: str, cal: Calendar | None
) -> tuple[spike.Baseline | None, float, str | None]:
    """The rule's own baseline of ``day``, the band's widening and the note: the trailing
    median (with a note) while a weekday or seasonal rule lacks its days. A seasonal fit
    leaves the market's special days out (unless ``holidays: ignore``); its band (``band``
    x expected) widens ``ratio`` x expected when it is the wider."""
    p = rule.params
    if p.baseline == "seasonal":
        fit = _seasonal_fit(rule, w, day, country, cal)
        if fit is not None:
            if fit.expected < p.min_baseline:
                return None, 1.0, None
            b = (fit.expected, fit.expected, max(fit.sigma, 0.01) * fit.expected)
            return b, max(1.0, fit.band / p.ratio) if p.ratio else 1.0, None
    elif not p.strict or w.start <= day - p.offsets[0]:  # a young series: too few weeks yet
        history = windows.history(w, day, p.offsets)
        if p.baseline != "weekday" or len(history) >= p.needed:
            return spike.baseline(history, p), 1.0, None
    return spike.baseline(windows.history(w, day, p.trailing), p.fallback), 1.0, p.fallback.method


def _seasonal_fit(rule: SpikeRule, w: windows.Daily, day: int, country: str, cal: Calendar | None):
    """The seasonal fit of ``day`` on the window's ordinary days before it (the market's
    special days left out, unless ``holidays: ignore``); None with too few."""
    p = rule.params
    ordinary = [
        (day - k, v)
        for k in p.offsets
        if (v := windows.total(w, day - k)) is not None
        and (p.holidays == "ignore" or cal is None or cal.special(country, day - k, p.holiday_around) is None)
    ]
    return seasonal.fit(ordinary, day, p.band_mads) if len(ordinary) >= p.needed else None


def note_effects(rule: SpikeRule, w: windows.Daily, day: int, country: str, cal: Calendar) -> None:
    """A seasonal rule learns its series' holiday effects: each special day of the last
    ``EFFECT_LOOK`` days, once over, is kept as its total against the fit of that day
    (``windows.keep_effect``, a year and a bit). Called once per series per day."""
    for d in range(day - EFFECT_LOOK, day):
        if d in w.effects or windows.total(w, d) is None or cal.special(country, d) is None:
            continue
        fit = _seasonal_fit(rule, w, d, country, cal)
        if fit is not None and fit.expected > 0:
            windows.keep_effect(w, d, windows.total(w, d) / fit.expected)


def _with_effect(
    rule: SpikeRule, w: windows.Daily, b: spike.Baseline | None, day: int, country: str, cal: Calendar
) -> tuple[spike.Baseline, str] | None:
    """A seasonal baseline on a special day times the effect the same day had last year
    in this series (the 2nd day of the Spring Festival: last year's 2nd day), when the
    series' history holds it; None otherwise (the band widens instead)."""
    if rule.params.baseline != "seasonal" or b is None:
        return None
    last = cal.same_day_last_year(country, day)
    effect = w.effects.get(last) if last is not None else None
    if effect is None:
        return None
    name = cal.special(country, day)
    text = f"{basis_text(rule, day)} times {name}'s effect last year ({effect:.2f}x on {date_of(last)})"
    return (b[0] * effect, b[1] * effect, b[2] * effect), text


def basis_text(rule: SpikeRule, day: int, note: str | None = None) -> str:
    """The baseline ``rule`` judged ``day`` against, in words (``note`` when it was not its own)."""
    if note is not None:
        return note
    p = rule.params
    if p.baseline == "weekday":
        return f"the median of the last {p.weeks} {date.fromordinal(day):%A}s"
    if p.baseline == "seasonal":
        return f"the seasonal fit for a {date.fromordinal(day):%A} ({p.weeks} weeks, a {p.band_mads:g}-MAD band)"
    return p.method


def explain_day(
    rule: SpikeRule | ChangeRule, w: windows.Daily, day: int, country: str = "", cal: Calendar | None = None
) -> DayView | None:
    """Pure: ``day`` of the window ``w`` as ``Engine._daily`` judges it, with the same
    history, baseline and detector (``spike_basis``/``spike.judge``, ``change.detect``), and
    the lines it fires at (``spike.fire_line``, ``change.bounds``). None when the window
    no longer holds the day."""
    total = windows.total(w, day)
    if total is None:
        return None
    p = rule.params
    if isinstance(rule, SpikeRule):
        b, widen, note = spike_basis(rule, w, day, country, cal)
        hit = spike.judge(total, b, p, widen)
        return DayView(
            day,
            total,
            b[0] if b is not None else None,
            spike.fire_line(b, p, widen),
            ratio=hit.ratio if hit is not None else None,
            method=basis_text(rule, day, note),
            special=cal.special(country, day, p.holiday_around) if p.holidays != "ignore" and cal else None,
        )
    before = windows.total(w, day - p.lag_days)
    up, down = change.bounds(before, p)
    return DayView(day, total, before, up, down, change=change.detect(total, before, p))


def _chart(w: windows.Daily, view: DayView | None, drop: bool) -> dict:
    """What a chart of a fired spike or change alert needs (optional alert fields, made at
    fire time only, from the judged day's ``view``): ``trend``, the days the window holds as
    [date, total], oldest first; ``threshold``, the least total that fires (a drop: the
    greatest), None when none can; a spike's ``baseline_method``, the baseline in words."""
    line = None if view is None else (view.fire_below if drop else view.fire_at)
    out = {"trend": [[date_of(d), v] for d, v in windows.items(w)], "threshold": line}
    if view is not None and view.method is not None:
        out["baseline_method"] = view.method
    return out


def series_of(alert: Alert) -> str | None:
    """The series an alert is about, as ``Observation.series`` names it: None for news
    and deadman alerts."""
    lab = alert.labels
    try:
        if alert.kind == "rank":
            return "|".join(lab[k] for k in ("app_id", "platform", "country", "chart", "category"))
        if alert.kind in ("spike", "change", "threshold", "milestone"):
            return "|".join(lab[k] for k in ("app_id", "platform", "country", "metric"))
    except KeyError:
        return None
    return None


def _news_labels(ev: News) -> dict[str, str]:
    """A news alert's labels: the type, its entities and roles ("" when not known), the
    language and the type's confidence as a string ("0.97"; "" when a producer set the type)."""
    return {
        "kind": ev.kind or "other",
        "companies": ",".join(sorted(ev.companies or [])),
        "people": ",".join(ev.people or []),
        "from_company": ev.from_company or "",
        "to_company": ev.to_company or "",
        "person": ev.person or "",
        "role": ev.role or "",
        "lang": ev.lang or "",
        "confidence": "" if ev.confidence is None else f"{ev.confidence:.2f}",
    }


def _brief(ev: News) -> dict:
    return {
        "event_id": ev.event_id,
        "ts": ev.ts.isoformat(),
        "title": ev.title,
        "url": ev.url,
        "kind": ev.kind,
        "companies": ev.companies or [],
        "people": ev.people or [],
        **{f: getattr(ev, f) for f in ("from_company", "to_company", "person", "role") if getattr(ev, f)},
    }


def _series_labels(rule, ev) -> dict[str, str]:
    return {"app_id": ev.app_id, "platform": ev.platform, "country": ev.country, "metric": ev.metric, **rule.labels}


def _fields(rule, ev, **extra) -> dict:
    return dict(
        rule=rule.name,
        severity=rule.severity,
        app_id=ev.app_id,
        app_name=ev.app_name or ev.app_id,
        platform=ev.platform,
        country=ev.country,
        metric=ev.metric,
        **extra,
    )


def date_of(day: int) -> str:
    return date.fromordinal(day).isoformat()


def alerts_in_order(alerts: Iterable[Alert]) -> list[Alert]:
    return sorted(alerts, key=lambda a: datetime.fromisoformat(a.event_ts))
