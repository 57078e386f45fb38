"""A backtest as one self-contained HTML page: totals, one chart per fired series, tables.

``render(result, ruleset)`` returns the page as a string: ``page`` builds a plain data
structure (dicts, lists, strings, numbers) and ``templates/report.html.j2`` (Jinja2,
autoescaped) lays it out. Everything is inline: the CSS, the SVG charts (no JavaScript)
and the data. A Content-Security-Policy meta tag forbids every network load, so the only
URLs in the page are the news links (``<a href>``, http/https only).

Every number the page shows comes from the engine, through ``result``: the alerts, and
``result.trace`` (``streams.backtest.Trace``: what ``Engine.explain`` reported while the
backtest ran, the same detector code the worker runs). This module computes no total,
baseline, ratio or threshold of its own; it places them on charts:

- spike/change: each day's total as the rule's window held it, the baseline and the line
  a day must reach to fire (``DayView``), the ratio or change of each alert as it fired;
- threshold/milestone: the observations, with the rule's threshold / milestone lines;
- rank: the rank the chart's state took at each snapshot, #1 at the top, with the rule's
  target rank.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from streams.engine import DayView, series_of
from streams.rules import (
    ChangeRule,
    MilestoneRule,
    RankRule,
    RuleSet,
    SpikeRule,
    ThresholdRule,
)

__all__ = ["human", "page", "render"]

TEMPLATE = "report.html.j2"  # in streams/templates/
SEVERITIES = ("critical", "warning", "info")
DAILY_KINDS = ("spike", "change")
RAW_KINDS = ("threshold", "milestone")
MAX_ERRORS_SHOWN = 200
MAX_CHARTS = 60  # more series than this: the rest only in the table
MAX_DOTS = 240  # above this many points a series is drawn as a line only

# chart geometry, in SVG user units (the SVG scales to the page width)
W, H = 1000, 330
ML, MR, MT, MB = 70, 28, 26, 46
PW, PH = W - ML - MR, H - MT - MB
GEOMETRY = {"W": W, "H": H, "ML": ML, "MT": MT, "PW": PW, "PH": PH}


# -- public ----------------------------------------------------------------------


def render(result: Any, ruleset: RuleSet, title: str = "appwatch backtest") -> str:
    """The backtest ``result`` under ``ruleset`` as one self-contained HTML5 page."""
    return _template().render(page(result, ruleset, title))


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("streams", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template(TEMPLATE)


def page(result: Any, ruleset: RuleSet, title: str = "appwatch backtest") -> dict[str, Any]:
    """What the page shows, as plain data for the template."""
    rules = {r.name: r for r in ruleset.rules}
    order = {r.name: i for i, r in enumerate(ruleset.rules)}
    alerts, events = list(result.alerts), list(result.events)
    news_alerts = [a for a in alerts if a.kind == "news"]
    other_alerts = [a for a in alerts if a.kind != "news"]
    rows = {id(a): n for n, a in enumerate(other_alerts, 1)}
    names = _app_names(events)
    series = _group(other_alerts, rules, order)
    charted = series[:MAX_CHARTS]
    trace = getattr(result, "trace", None)
    return {
        "title": title,
        "geometry": GEOMETRY,
        "header": _header(result, alerts, events, len(series)),
        "rules": _rules_rows(ruleset, alerts),
        "errors": _errors(result.errors),
        "severities": SEVERITIES,
        "series": {
            "count": len(series),
            "more": len(series) - len(charted),
            "charted": len(charted),
            "more_text": f"{len(series) - len(charted):,}",
            "charts": [_figure(n, s, trace, names, rows) for n, s in enumerate(charted, 1)],
        },
        "alerts": _alert_rows(other_alerts, charted),
        "news": _news_rows(news_alerts),
        "n_rules": len(ruleset.rules),
    }


# -- small helpers ------------------------------------------------------------------


def human(v: float | None) -> str:
    """Readable number: 812345 -> 812k, 2401234 -> 2.4M, 1.5e8 -> 150M."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    sign, a = ("-" if v < 0 else ""), abs(float(v))
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if a >= scale * 0.9995:
            return sign + _sig(a / scale) + unit
    if a == int(a):
        return f"{sign}{int(a)}"
    return sign + (f"{a:.2f}".rstrip("0").rstrip(".") if a < 10 else f"{a:.1f}".rstrip("0").rstrip("."))


def _sig(x: float) -> str:
    """Three significant digits, trailing zeros dropped: 2.40 -> 2.4, 812.3 -> 812."""
    digits = 2 if x < 10 else 1 if x < 100 else 0
    text = f"{x:.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _full(v: float | None) -> str:
    if v is None:
        return ""
    return f"{v:,.0f}" if float(v) == int(v) or abs(v) >= 100 else f"{v:,.2f}"


def _parse_ts(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _when(text: str | None) -> dict[str, str | None]:
    """A timestamp as the page shows it: date, time, offset; ``raw`` if it does not parse."""
    dt = _parse_ts(text)
    if dt is None:
        return {"raw": text or "—", "date": None, "time": None, "off": None}
    off = dt.strftime("%z")
    off = "UTC" if off in ("+0000", "") else f"{off[:3]}:{off[3:]}"
    return {"raw": None, "date": f"{dt:%Y-%m-%d}", "time": f"{dt:%H:%M}", "off": off}


def _link(url: Any, text: Any) -> dict[str, Any]:
    """Only http(s) links; anything else (javascript:, data:) is shown as text."""
    href = None
    if isinstance(url, str) and re.match(r"^https?://[^\s\"'<>]+$", url.strip(), re.IGNORECASE):
        href = url.strip()
    return {"href": href, "text": "" if text is None else str(text)}


def _badge(text: str, severity: str | None = None) -> dict[str, str]:
    severity = text if severity is None else severity
    return {"text": text, "cls": severity if severity in SEVERITIES else "other"}


def _app_names(events: Iterable[Any]) -> dict[str, str]:
    names: dict[str, str] = {}
    for ev in events:
        name = getattr(ev, "app_name", None)
        if name and getattr(ev, "app_id", None):
            names[ev.app_id] = name
    return names


def _local_x(dt: datetime, tz: ZoneInfo) -> float:
    """Where ``dt`` goes on a time axis in ``tz``: a day's midnight is its ``toordinal()``."""
    local = dt.astimezone(tz)
    frac = (local.hour * 3600 + local.minute * 60 + local.second) / 86400
    return local.date().toordinal() + frac


# -- series: which series fired, and what the engine saw of them --------------------


@dataclass
class _Series:
    key: tuple
    family: str  # "daily" | "raw" | "rank"
    sid: str  # the series as ``engine.series_of`` and the trace name it
    ident: dict[str, str]
    tz: ZoneInfo
    rules: list[Any] = field(default_factory=list)  # rule models (None: not in the ruleset)
    alerts: list[Any] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return "series-" + "-".join(re.sub(r"[^a-z0-9]+", "_", str(p).lower()) for p in self.key)


def _series_key(alert: Any, rule: Any) -> tuple[str, tuple, str, dict[str, str], ZoneInfo] | None:
    sid = series_of(alert)
    if sid is None:
        return None  # deadman, news and unknown kinds: table only
    tz = rule.tz(alert.labels.get("country", "")) if rule is not None else UTC
    if alert.kind == "rank":
        ident = dict(zip(("app_id", "platform", "country", "chart", "category"), sid.split("|"), strict=False))
        return "rank", ("rank", *ident.values()), sid, ident, tz
    ident = dict(zip(("app_id", "platform", "country", "metric"), sid.split("|"), strict=False))
    if alert.kind in DAILY_KINDS:  # the days depend on the rule's timezone
        return "daily", ("daily", *ident.values(), str(tz)), sid, ident, tz
    return "raw", ("raw", *ident.values()), sid, ident, tz


def _group(alerts: Sequence[Any], rules: dict[str, Any], order: dict[str, int]) -> list[_Series]:
    groups: dict[tuple, _Series] = {}
    for a in alerts:
        rule = rules.get(a.rule)
        found = _series_key(a, rule)
        if found is None:
            continue
        family, key, sid, ident, tz = found
        s = groups.setdefault(key, _Series(key, family, sid, ident, tz))
        if rule not in s.rules:
            s.rules.append(rule)
        s.alerts.append(a)

    def rank(s: _Series) -> tuple:
        first = min(order.get(a.rule, len(order)) for a in s.alerts)
        return first, min(_parse_ts(a.event_ts) or datetime.max.replace(tzinfo=UTC) for a in s.alerts), s.key

    return sorted(groups.values(), key=rank)


def _days(trace: Any, rule: Any, sid: str) -> dict[int, DayView]:
    """The days of ``sid`` as ``rule``'s window held them (the backtest's trace)."""
    if trace is None or rule is None:
        return {}
    return dict(sorted(trace.days.get((rule.name, sid), {}).items()))


def _points(trace: Any, rules: Iterable[Any], sid: str) -> list[tuple[datetime, float]]:
    """The observations of ``sid`` the ``rules`` saw, once each, oldest first."""
    if trace is None:
        return []
    seen = dict.fromkeys(p for r in rules if r is not None for p in trace.points.get((r.name, sid), []))
    return sorted(seen, key=lambda p: p[0])


# -- axes --------------------------------------------------------------------------


def _nice_step(span: float, n: int) -> float:
    raw = span / max(n, 1)
    if raw <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw * 0.999:
            return m * mag
    return 10 * mag


def _y_ticks(lo: float, hi: float, n: int = 5) -> tuple[float, float, list[float]]:
    if hi <= lo:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    step = _nice_step(hi - lo, n)
    start, end = math.floor(lo / step) * step, math.ceil(hi / step) * step
    ticks = [start + i * step for i in range(int(round((end - start) / step)) + 1)]
    return start, end, ticks


def _tick_days(first: int, last: int, target: int) -> list[int]:
    """Day ordinals for x ticks: every day, every other day, Mondays, or month starts."""
    span = max(last - first, 1)
    for step in (1, 2, 7, 14):
        if span / step <= target:
            start = first
            if step == 2:
                start += first % 2
            elif step >= 7:  # Mondays (ordinal 1 is a Monday)
                start += (1 - first) % 7
            return list(range(start, last + 1, step))
    months = span / 30.4
    mstep = next((m for m in (1, 2, 3, 6, 12) if months / m <= target), 24)
    days, d = [], date.fromordinal(first).replace(day=1)
    while d.toordinal() <= last:
        if d.toordinal() >= first and (d.month - 1) % mstep == 0:
            days.append(d.toordinal())
        d = (d + timedelta(days=32)).replace(day=1)
    return days


def _x_ticks(lo: float, hi: float, target: int = 9) -> list[tuple[int, str, str]]:
    """(ordinal, label, year-or-empty) ticks on day boundaries between ``lo`` and ``hi``."""
    first, last = math.ceil(lo), math.floor(hi)
    span = max(last - first, 1)
    out, year = [], None
    for o in _tick_days(first, last, target):
        d = date.fromordinal(o)
        label = f"{d:%b} {d.day}" if span <= 120 else f"{d:%b}"
        out.append((o, label, str(d.year) if d.year != year else ""))
        year = d.year
    return out


def _y_range_from(values: Iterable[float | None], zero: bool) -> tuple[float, float, list[float]]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return 0.0, 1.0, [0.0, 0.5, 1.0]
    lo, hi = min(vals), max(vals)
    if zero:
        lo = min(0.0, lo)
        hi = hi * 1.1 if hi > 0 else 1.0
    else:
        pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 1.0
        lo, hi = lo - pad, hi + pad
        if min(vals) >= 0:
            lo = max(lo, 0.0)
    return _y_ticks(lo, hi)


# -- one chart: geometry as data -------------------------------------------------------


@dataclass
class _Plot:
    x_lo: float
    x_hi: float
    y_lo: float
    y_hi: float
    invert: bool = False  # rank: the smallest value at the top

    def x(self, v: float) -> float:
        return ML + (v - self.x_lo) / ((self.x_hi - self.x_lo) or 1) * PW

    def y(self, v: float) -> float:
        f = (v - self.y_lo) / ((self.y_hi - self.y_lo) or 1)
        return MT + (f if self.invert else 1 - f) * PH


def _path(plot: _Plot, pts: Sequence[tuple[float, float]], gap: float | None = None) -> str:
    """An SVG path through ``pts``; a new sub-path after an x gap larger than ``gap``."""
    parts, prev = [], None
    for x, y in pts:
        cmd = "M" if prev is None or (gap is not None and x - prev > gap) else "L"
        parts.append(f"{cmd}{plot.x(x):.1f},{plot.y(y):.1f}")
        prev = x
    return " ".join(parts)


def _step_path(plot: _Plot, pts: Sequence[tuple[float, float]]) -> str:
    """Ranks hold until the next snapshot: a step line."""
    out, prev = [], None
    for x, y in pts:
        if prev is None:
            out.append(f"M{plot.x(x):.1f},{plot.y(y):.1f}")
        else:
            out.append(f"L{plot.x(x):.1f},{plot.y(prev):.1f} L{plot.x(x):.1f},{plot.y(y):.1f}")
        prev = y
    return " ".join(out)


def _line(cls: str, d: str) -> list[dict[str, Any]]:
    """A path layer, or none when there is nothing to draw."""
    return [{"kind": "path", "cls": cls, "d": d}] if d else []


def _band(plot: _Plot, pts: Sequence[tuple[float, float, float]], gap: float) -> dict[str, Any]:
    """Filled polygons between lower and upper values, split at gaps."""
    runs: list[list[tuple[float, float, float]]] = []
    for p in pts:
        if not runs or p[0] - runs[-1][-1][0] > gap:
            runs.append([])
        runs[-1].append(p)
    polygons = []
    for run in runs:
        if len(run) < 2:
            continue
        top = [f"{plot.x(x):.1f},{plot.y(hi):.1f}" for x, _, hi in run]
        bottom = [f"{plot.x(x):.1f},{plot.y(lo):.1f}" for x, lo, _ in reversed(run)]
        polygons.append(" ".join(top + bottom))
    return {"kind": "band", "polygons": polygons}


def _dots(plot: _Plot, pts: Sequence[tuple[float, float, str]], cls: str = "pt") -> dict[str, Any]:
    dots = (
        []
        if len(pts) > MAX_DOTS
        else [{"cx": f"{plot.x(x):.1f}", "cy": f"{plot.y(y):.1f}", "title": t} for x, y, t in pts]
    )
    return {"kind": "dots", "cls": cls, "dots": dots}


def _hline(plot: _Plot, v: float, cls: str, label: str) -> dict[str, Any]:
    y = plot.y(v)
    return {"kind": "hline", "cls": cls, "y": f"{y:.1f}", "ty": f"{y - 5:.1f}", "label": label}


@dataclass
class _Marker:
    x: float
    y: float
    label: str
    title: str
    row: int
    severity: str
    late: bool = False
    short: str = ""  # used when the full label does not fit


def _svg(
    plot: _Plot,
    *,
    y_ticks: Sequence[float],
    y_fmt: Callable[[float], str],
    layers: Sequence[dict[str, Any]],
    markers: Sequence[_Marker],
    aria: str,
    points: Sequence[tuple[float, float]] = (),
    hlines: Sequence[float] = (),
) -> dict[str, Any]:
    labels = _place_labels(plot, markers, points, hlines)
    return {
        "aria": aria,
        "yticks": [{"y": f"{plot.y(t):.1f}", "ty": f"{plot.y(t) + 4:.1f}", "text": y_fmt(t)} for t in y_ticks],
        "xticks": [
            {"x": f"{plot.x(o):.1f}", "label": label, "year": year} for o, label, year in _x_ticks(plot.x_lo, plot.x_hi)
        ],
        "layers": list(layers),
        "markers": [_marker(plot, m, pos) for m, pos in zip(markers, labels, strict=False)],
    }


def _marker(plot: _Plot, m: _Marker, pos: tuple[float, float, str] | None) -> dict[str, Any]:
    label = None if pos is None else {"x": f"{pos[0]:.1f}", "y": f"{pos[1]:.1f}", "text": pos[2]}
    return {
        "row": m.row,
        "severity": m.severity,
        "late": m.late,
        "title": m.title,
        "x": f"{plot.x(m.x):.1f}",
        "y": f"{plot.y(m.y):.1f}",
        "label": label,
    }


def _text_width(text: str) -> float:
    """Rough width of a 13px bold label, in SVG units (CJK glyphs are about square)."""
    return sum(13.5 if ord(c) >= 0x2E80 else 7.6 for c in text)


def _place_labels(
    plot: _Plot, markers: Sequence[_Marker], points: Sequence[tuple[float, float]], hlines: Sequence[float] = ()
) -> list[tuple[float, float, str] | None]:
    """Per marker, where its label goes (x, baseline y, text) or None when it would hide another.

    Markers are placed most severe first; each tries its full label around itself
    (above, below, left, right, further up/down), then its short label; a label
    identical to one already shown at the same spot is left out.
    """
    obstacles = [(plot.x(m.x) - 11, plot.y(m.y) - 11, plot.x(m.x) + 11, plot.y(m.y) + 11) for m in markers]
    obstacles += [(plot.x(x) - 4, plot.y(y) - 4, plot.x(x) + 4, plot.y(y) + 4) for x, y in points]
    obstacles += [(ML, plot.y(v) - 18, ML + 90, plot.y(v) - 1) for v in hlines]  # their labels
    placed: list[tuple[float, float, float, float]] = []
    shown: set[tuple[int, int, str]] = set()
    out: list[tuple[float, float, str] | None] = [None] * len(markers)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    for i in sorted(range(len(markers)), key=lambda i: (rank.get(markers[i].severity, 9), i)):
        m = markers[i]
        x, y = plot.x(m.x), plot.y(m.y)
        spot = (round(x), round(y), m.label)
        if spot in shown:
            continue
        for text in dict.fromkeys(t for t in (m.label, m.short) if t):
            box = _free_spot(x, y, _text_width(text), obstacles + placed)
            if box is not None:
                placed.append(box)
                shown.add(spot)
                out[i] = (box[0], box[3] - 3, text)
                break
    return out


def _free_spot(x: float, y: float, w: float, taken: Sequence[tuple[float, float, float, float]]):
    for dx, dy in ((0, -16), (0, 26), (-16, 5), (16, 5), (0, -34), (0, 44), (-16, -14), (16, -14)):
        left = x - w / 2 if dx == 0 else x + dx - w if dx < 0 else x + dx
        left = min(max(left, ML + 2), ML + PW - w - 2)
        base = y + dy
        box = (left, base - 12, left + w, base + 3)
        if box[1] < 4 or box[3] > MT + PH - 2:
            continue
        if not any(_overlap(box, o) for o in taken):
            return box
    return None


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _legend(items: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"cls": cls, "text": text} for cls, text in items]


# -- one chart per family ------------------------------------------------------------


def _series_title(s: _Series, names: dict[str, str]) -> str:
    i = s.ident
    app = names.get(i["app_id"], i["app_id"])
    if s.family == "rank":
        cat = "" if i["category"] == "all" else f" · {i['category']}"
        return f"{app} · rank on {i['chart']}{cat} · {i['country']}/{i['platform']}"
    return f"{app} · {i['metric'].replace('_', ' ')} · {i['country']}/{i['platform']}"


def _figure(n: int, s: _Series, trace: Any, names: dict[str, str], rows: dict[int, int]) -> dict[str, Any]:
    chart = {"daily": _daily_chart, "rank": _rank_chart}.get(s.family, _raw_chart)
    svg, legend, note = chart(s, trace, rows)
    sev = Counter(a.severity for a in s.alerts)
    return {
        "n": n,
        "anchor": s.anchor,
        "key": "|".join(s.key),
        "title": _series_title(s, names),
        "badges": [_badge(f"{sev[k]} {k}" if sev[k] > 1 else k, k) for k in SEVERITIES if sev[k]],
        "rules": ", ".join(sorted({a.rule for a in s.alerts})),
        "alerts": len(s.alerts),
        "legend": legend,
        "svg": svg,
        "note": note,
    }


def _daily_markers(s: _Series, trace: Any, rows: dict[int, int]) -> list[_Marker]:
    """An alert on the day it judged, at its running total when it fired, labelled with the
    ratio (spike) or change (change) the detector found then."""
    fired = trace.fired if trace is not None else {}
    markers = []
    for a in s.alerts:
        at, view = _parse_ts(a.window_start) or _parse_ts(a.event_ts), fired.get(a.alert_id)
        if a.value is None or (view is None and at is None):
            continue
        day = view.day if view is not None else at.astimezone(s.tz).toordinal()
        how = ""
        if view is not None and view.ratio is not None:
            how = f" · {view.ratio:.1f}×"
        elif view is not None and view.change is not None:
            how = f" · {view.change:+.0f}%"
        local = _parse_ts(a.event_ts)
        local = local.astimezone(s.tz) if local is not None else None
        if local is not None and local.toordinal() == day and local.time() != time(0):
            how += f" by {local:%H:%M}"  # fired part-way through the day
        markers.append(
            _Marker(
                day,
                a.value,
                f"{human(a.value)}{how}",
                a.summary,
                rows.get(id(a), 0),
                a.severity,
                a.late,
                short=human(a.value),
            )
        )
    return markers


def _spike_legend(rule: SpikeRule) -> list[tuple[str, str]]:
    p = rule.params
    fire = " and ".join(
        ([f"{p.ratio:g}× baseline"] if p.ratio is not None else [])
        + ([f"mean + {p.zscore:g}σ"] if p.zscore is not None else [])
    )
    return [
        ("baseline", f"baseline ({p.method})"),
        ("band", "baseline → fire line"),
        ("threshold", f"fires at ≥ {fire}"),
    ]


def _daily_layers(plot: _Plot, views: list[tuple[Any, dict[int, DayView]]]) -> list[dict[str, Any]]:
    """Per spike rule: the band from the baseline to the fire line, both lines; per change
    rule: its fire lines."""
    layers: list[dict[str, Any]] = []
    for rule, days in views:
        if isinstance(rule, SpikeRule):
            band = [
                (d, v.baseline, v.fire_at) for d, v in days.items() if v.baseline is not None and v.fire_at is not None
            ]
            layers.append(_band(plot, band, gap=1))
            layers += _line(
                "baseline", _path(plot, [(d, v.baseline) for d, v in days.items() if v.baseline is not None], 1)
            )
            layers += _line(
                "threshold", _path(plot, [(d, v.fire_at) for d, v in days.items() if v.fire_at is not None], 1)
            )
        else:
            for side in ("fire_at", "fire_below"):
                pts = [(d, getattr(v, side)) for d, v in days.items() if getattr(v, side) is not None]
                layers += _line("threshold", _path(plot, pts, 1))
    return layers


def _daily_chart(s: _Series, trace: Any, rows: dict[int, int]) -> tuple[dict, list, str]:
    views = [(r, _days(trace, r, s.sid)) for r in s.rules if isinstance(r, (SpikeRule, ChangeRule))]
    spikes = [(r, days) for r, days in views if isinstance(r, SpikeRule)]
    totals = next((days for _, days in views if days), {})
    markers = _daily_markers(s, trace, rows)
    ys = [v.total for v in totals.values()] + [m.y for m in markers]
    for r, days in views:
        spiking = isinstance(r, SpikeRule)
        for v in days.values():
            ys += [v.fire_at, v.fire_below] + ([v.baseline] if spiking else [])
    xs = list(totals) + [m.x for m in markers]
    x_lo, x_hi = (min(xs) - 0.6, max(xs) + 0.6) if xs else (0.0, 1.0)
    y_lo, y_hi, ticks = _y_range_from(ys, zero=True)
    plot = _Plot(x_lo, x_hi, y_lo, y_hi)
    layers = _daily_layers(plot, views)
    line = [(d, v.total) for d, v in totals.items()]
    layers += _line("series-line", _path(plot, line, 1))
    first = spikes[0][1] if spikes else {}
    layers.append(_dots(plot, [(d, v.total, _day_tip(v, first.get(d))) for d, v in totals.items()]))
    legend = [("line", "daily total")] + (_spike_legend(spikes[0][0]) if spikes else [])
    legend += [
        ("threshold", f"fires at {r.params.pct:g}% {r.params.direction} {r.params.compare}")
        for r, _ in views
        if isinstance(r, ChangeRule)
    ]
    legend.append(("marker", "alert"))
    svg = _svg(
        plot,
        y_ticks=ticks,
        y_fmt=human,
        layers=layers,
        markers=markers,
        aria=f"daily totals with {len(markers)} alert markers",
        points=line,
    )
    note = (
        f"Daily totals per calendar day in {s.tz}, as the rule's window held them: mode=delta events "
        "summed, mode=total last one wins. An alert marker shows the day's running total when the "
        "rule fired."
    )
    if spikes:
        p = spikes[0][0].params
        note += (
            f" Baseline: {p.method}, of the days present "
            f"(none with fewer than {p.needed}, nor below {human(p.min_baseline)})."
        )
    return svg, _legend(legend), note


def _day_tip(v: DayView, spiked: DayView | None) -> str:
    tip = f"{date.fromordinal(v.day).isoformat()}: {_full(v.total)}"
    if spiked is not None and spiked.baseline is not None:
        tip += f" · baseline {human(spiked.baseline)}"
        if spiked.fire_at is not None:
            tip += f" · fires at {human(spiked.fire_at)}"
        if spiked.special is not None:
            tip += f" · {spiked.special}"
    return tip


def _raw_markers(s: _Series, rows: dict[int, int]) -> list[_Marker]:
    markers = []
    for a in s.alerts:
        dt = _parse_ts(a.event_ts)
        if dt is None or a.value is None:
            continue
        short = human(a.baseline if a.kind == "milestone" else a.value)
        if a.kind == "milestone":
            label = f"passed {short}"  # the alert's baseline: the milestone it crossed
        elif a.status == "resolved":
            label = f"resolved {short}"
        else:
            label = short
        markers.append(
            _Marker(_local_x(dt, s.tz), a.value, label, a.summary, rows.get(id(a), 0), a.severity, a.late, short=short)
        )
    return markers


def _raw_chart(s: _Series, trace: Any, rows: dict[int, int]) -> tuple[dict, list, str]:
    tz = s.tz
    pts = [(_local_x(ts, tz), v, ts) for ts, v in _points(trace, s.rules, s.sid)]
    markers = _raw_markers(s, rows)
    ys = [v for _, v, _ in pts] + [m.y for m in markers]
    lines, legend = [], [("line", "value")]
    thresholds = [r for r in s.rules if isinstance(r, ThresholdRule)]
    milestones = [r for r in s.rules if isinstance(r, MilestoneRule)]
    for r in thresholds:
        ys.append(r.params.value)
        lines.append((r.params.value, "threshold", f"{r.params.op} {human(r.params.value)}"))
    if thresholds:
        legend.append(("threshold", "threshold"))
    crossed = {a.baseline for a in s.alerts if a.kind == "milestone" and a.baseline is not None}
    y_lo, y_hi, ticks = _y_range_from(ys + list(crossed), zero=not milestones)
    for r in milestones:
        lines += [
            (m, "milestone" if m in crossed else "milestone faint", human(m))
            for m in r.params.values
            if y_lo <= m <= y_hi
        ]
    if milestones:
        legend.append(("milestone", "milestone"))
    plot = _time_plot([x for x, _, _ in pts] + [m.x for m in markers], y_lo, y_hi)
    layers = [_hline(plot, v, cls, label) for v, cls, label in lines]
    layers += _line("series-line", _path(plot, [(x, v) for x, v, _ in pts]))
    layers.append(_dots(plot, [(x, v, f"{ts.astimezone(tz):%Y-%m-%d %H:%M}: {_full(v)}") for x, v, ts in pts]))
    legend.append(("marker", "alert"))
    svg = _svg(
        plot,
        y_ticks=ticks,
        y_fmt=human,
        layers=layers,
        markers=markers,
        aria=f"values with {len(markers)} alert markers",
        points=[(x, v) for x, v, _ in pts],
        hlines=[v for v, _, _ in lines],
    )
    return svg, _legend(legend), f"Every observation of the series, plotted at its event time ({tz})."


def _time_plot(xs: list[float], y_lo: float, y_hi: float, invert: bool = False) -> _Plot:
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    pad = max((x_hi - x_lo) * 0.02, 0.5)
    return _Plot(x_lo - pad, x_hi + pad, y_lo, y_hi, invert=invert)


def _rank_markers(s: _Series, rows: dict[int, int], bottom: float) -> list[_Marker]:
    """Each move as the engine reported it (the alert's rank, and the rank before)."""
    markers = []
    for a in s.alerts:
        dt = _parse_ts(a.event_ts)
        if dt is None:
            continue
        if a.value is None:  # dropped out: mark below the chart's last rank
            y, label, short = bottom, "dropped out", "out"
        else:
            y, label = a.value, f"#{a.value:.0f}"
            short = label
            if a.baseline is not None:
                label += f" (was #{a.baseline:.0f})"
        markers.append(
            _Marker(_local_x(dt, s.tz), y, label, a.summary, rows.get(id(a), 0), a.severity, a.late, short=short)
        )
    return markers


def _rank_ticks(worst: int) -> list[float]:
    step = max(1, int(_nice_step(worst - 1, 5)))
    if step <= 2:  # 1, 2, 3, ... or 1, 3, 5, ...
        ticks = [float(t) for t in range(1, worst + step, step)]
    else:  # 1, 5, 10, ... or 1, 10, 20, ...
        ticks = [1.0] + [float(t) for t in range(step, worst + step, step)]
    while ticks[-1] < worst:
        ticks.append(ticks[-1] + step)
    return ticks


def _rank_chart(s: _Series, trace: Any, rows: dict[int, int]) -> tuple[dict, list, str]:
    tz = s.tz
    pts = [(_local_x(ts, tz), v, ts) for ts, v in _points(trace, s.rules, s.sid)]
    ys = [v for _, v, _ in pts] + [1.0] + [a.value for a in s.alerts if a.value is not None]
    lines = set()
    for r in s.rules:
        if isinstance(r, RankRule):
            for name, text in (("reached", "#{}"), ("entered_top", "top {}"), ("dropped_out", "top {}")):
                if getattr(r.params, name):
                    lines.add((float(getattr(r.params, name)), text.format(getattr(r.params, name))))
    ys += [v for v, _ in lines]
    markers = _rank_markers(s, rows, max(ys) + 1)
    ticks = _rank_ticks(math.ceil(max([*ys, *(m.y for m in markers)])))
    plot = _time_plot([x for x, _, _ in pts] + [m.x for m in markers], 0.5, ticks[-1] + 0.5, invert=True)
    layers = [_hline(plot, v, "target", label) for v, label in sorted(lines)]
    layers += _line("series-line step", _step_path(plot, [(x, v) for x, v, _ in pts]))
    layers.append(_dots(plot, [(x, v, f"{ts.astimezone(tz):%Y-%m-%d %H:%M}: #{v:.0f}") for x, v, ts in pts]))
    legend = [("line", "rank (#1 at the top)")] + ([("target", "rule target")] if lines else [])
    legend.append(("marker", "alert"))
    svg = _svg(
        plot,
        y_ticks=ticks,
        y_fmt=lambda t: f"#{t:.0f}",
        layers=layers,
        markers=markers,
        aria=f"rank over time with {len(markers)} alert markers",
        points=[(x, v) for x, v, _ in pts],
        hlines=[v for v, _ in lines],
    )
    return svg, _legend(legend), f"Chart position at each snapshot ({tz}); #1 is at the top."


# -- header and tables ------------------------------------------------------------------


def _header(result: Any, alerts: list[Any], events: list[Any], n_series: int) -> dict[str, Any]:
    stamps = [ev.ts for ev in events]
    span = None
    if stamps:
        lo, hi = min(stamps), max(stamps)
        span = {
            "lo": _when(lo.isoformat()),
            "hi": _when(hi.isoformat()),
            "days": f"{(hi - lo).total_seconds() / 86400:.1f}",
        }
    types = Counter(getattr(ev, "type", "?") for ev in events)
    kinds = ", ".join(
        f"{types[t]:,} {label}"
        for t, label in (("app.metric", "metrics"), ("app.rank", "ranks"), ("news", "news"))
        if types[t]
    )
    sev = Counter(a.severity for a in alerts)
    status = Counter(a.status for a in alerts)
    extra = [f"{n} {s}" for s, n in sev.items() if s not in SEVERITIES]
    if status.get("resolved"):
        extra.append(f"{status['resolved']} resolved")
    news = sum(1 for a in alerts if a.kind == "news")
    return {
        "span": span,
        "events": f"{len(events):,}",
        "kinds": kinds,
        "invalid": len(result.errors),
        "invalid_text": f"{len(result.errors):,}",
        "alerts": len(alerts),
        "alerts_text": f"{len(alerts):,}",
        "severities": [(s, sev[s]) for s in SEVERITIES if sev[s]],
        "extra": " · ".join(extra),
        "series": f"{n_series:,}",
        "news": f"{news} news alert{'s' if news != 1 else ''}",
    }


def _rules_rows(ruleset: RuleSet, alerts: list[Any]) -> list[dict[str, Any]]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for a in alerts:
        counts[a.rule][a.severity] += 1
    names = [r.name for r in ruleset.rules] + sorted(set(counts) - {r.name for r in ruleset.rules})
    kinds = {r.name: r.kind for r in ruleset.rules}
    rows = []
    for name in names:
        c = counts.get(name, Counter())
        rows.append(
            {
                "name": name,
                "kind": kinds.get(name, "?"),
                "known": name in kinds,
                "counts": [c[s] if c[s] else "·" for s in SEVERITIES],
                "total": sum(c.values()),
            }
        )
    return rows


def _errors(errors: Sequence[tuple[int, str]]) -> dict[str, Any] | None:
    if not errors:
        return None
    return {
        "count": f"{len(errors):,}",
        "rows": list(errors[:MAX_ERRORS_SHOWN]),
        "more": f"{len(errors) - MAX_ERRORS_SHOWN:,}" if len(errors) > MAX_ERRORS_SHOWN else None,
    }


def _cell(a: Any, v: float | None, which: str) -> dict[str, str | None] | None:
    """A value or baseline as the alerts table shows it: None for a dash."""
    if v is None:
        return None
    if a.kind == "rank":
        return {"text": f"#{v:.0f}", "title": None}
    if a.kind == "deadman":
        return {"text": f"{v:.1f} h" if which == "value" else human(v), "title": None}
    return {"text": human(v), "title": _full(v)}


def _context(items: Sequence[dict]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        when = _parse_ts(item.get("ts"))
        out.append(
            {
                "day": f"{when:%Y-%m-%d}" if when else "",
                "kind": item.get("kind") or "",
                "link": _link(item.get("url"), item.get("title") or item.get("url") or "untitled"),
            }
        )
    return out


def _listed(a: Any) -> dict[str, Any]:
    """What every listed alert carries: its identity, as the backtest printed it."""
    return {
        "alert_id": a.alert_id,
        "rule": a.rule,
        "labels": dict(a.labels or {}),
        "window_start": a.window_start,
        "when": _when(a.event_ts),
        "severity": _badge(a.severity),
        "summary": a.summary,
    }


def _alert_rows(alerts: list[Any], series: list[_Series]) -> list[dict[str, Any]]:
    where = {id(a): s for s in series for a in s.alerts}
    rows = []
    for n, a in enumerate(alerts, 1):
        s = where.get(id(a))
        flags = ([{"cls": "tag", "text": a.status}] if a.status != "firing" else []) + (
            [{"cls": "tag late", "text": "late"}] if a.late else []
        )
        rows.append(
            {
                **_listed(a),
                "n": n,
                "anchor": s.anchor if s else None,
                "kind": a.kind,
                "flags": flags,
                "context": _context(a.context or []),
                "value": _cell(a, a.value, "value"),
                "baseline": _cell(a, a.baseline, "baseline"),
            }
        )
    return rows


def _news_rows(alerts: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for n, a in enumerate(alerts, 1):
        items = a.context or []
        item = items[0] if items else {}
        lab = a.labels or {}
        rows.append(
            {
                **_listed(a),
                "n": n,
                "kind": item.get("kind") or lab.get("kind", ""),
                "headline": _link(item.get("url"), item.get("title") or a.summary),
                "companies": ", ".join(item.get("companies") or []) or lab.get("companies", ""),
                "people": ", ".join(item.get("people") or []) or lab.get("people", ""),
                "more": _context(items[1:]),
            }
        )
    return rows
