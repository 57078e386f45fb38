"""Charts as SVG, drawn on the server: no script, no library, printable and testable.

``bars``: one bar per day (the hot day red), with the baseline and the threshold as
dashed lines. ``line``: a series over time; ``invert`` puts the smallest value on top
(a rank: #1 is best)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

W, H, PAD_L, PAD_B, PAD_T, PAD_R = 640, 220, 64, 28, 12, 12


def _fmt(v: float) -> str:
    for size, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= size:
            return f"{v / size:.3g}{unit}"
    return f"{v:.3g}"


def _svg(body: list[str], title: str) -> Markup:
    head = f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}">'
    return Markup(head + f"<title>{escape(title)}</title>" + "".join(body) + "</svg>")


def _y(v: float, lo: float, hi: float, invert: bool = False) -> float:
    span = (hi - lo) or 1.0
    frac = (v - lo) / span
    if invert:
        frac = 1 - frac
    return PAD_T + (H - PAD_T - PAD_B) * (1 - frac)


def _axis(lo: float, hi: float, invert: bool = False) -> list[str]:
    out = [f'<line class="axis" x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}"/>']
    for v in (lo, (lo + hi) / 2, hi):
        y = _y(v, lo, hi, invert)
        out.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(_fmt(v))}</text>')
    return out


def _hline(cls: str, v: float | None, lo: float, hi: float, label: str) -> list[str]:
    if v is None:
        return []
    y = _y(v, lo, hi)
    return [
        f'<line class="{cls}" x1="{PAD_L}" y1="{y:.1f}" x2="{W - PAD_R}" y2="{y:.1f}"/>',
        f'<text x="{W - PAD_R}" y="{y - 4:.1f}" text-anchor="end">{escape(label)} {escape(_fmt(v))}</text>',
    ]


def bars(
    days: Sequence[tuple[str, float]],
    *,
    baseline: float | None = None,
    threshold: float | None = None,
    hot: str | None = None,
    title: str = "",
) -> Markup:
    """``days``: (day label, total), oldest first; ``hot``: the day to paint red."""
    if not days:
        return Markup('<p class="muted">No series to draw.</p>')
    values = [v for _, v in days] + [v for v in (baseline, threshold) if v is not None]
    lo, hi = 0.0, max(values) * 1.1 or 1.0
    step = (W - PAD_L - PAD_R) / len(days)
    body = _axis(lo, hi)
    for i, (label, v) in enumerate(days):
        x, y = PAD_L + i * step + step * 0.15, _y(v, lo, hi)
        cls = "bar hot" if label == hot else "bar"
        body.append(
            f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{H - PAD_B - y:.1f}">'
            f"<title>{escape(label)}: {escape(_fmt(v))}</title></rect>"
        )
    for i in sorted({0, len(days) // 2, len(days) - 1}):
        x = PAD_L + (i + 0.5) * step
        body.append(f'<text x="{x:.1f}" y="{H - 8}" text-anchor="middle">{escape(days[i][0])}</text>')
    body += _hline("baseline", baseline, lo, hi, "baseline")
    body += _hline("threshold", threshold, lo, hi, "fires at")
    return _svg(body, title)


def line(points: Sequence[tuple[str, float]], *, invert: bool = False, title: str = "") -> Markup:
    """``points``: (label, value), oldest first."""
    if not points:
        return Markup('<p class="muted">No series to draw.</p>')
    values = [v for _, v in points]
    lo, hi = (min(values), max(values)) if len(set(values)) > 1 else (values[0] - 1, values[0] + 1)
    step = (W - PAD_L - PAD_R) / max(len(points) - 1, 1)
    xy = [(PAD_L + i * step, _y(v, lo, hi, invert)) for i, (_, v) in enumerate(points)]
    body = _axis(lo, hi, invert)
    body.append('<polyline class="series" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in xy) + '"/>')
    for (x, y), (label, v) in zip(xy, points, strict=True):
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>{escape(label)}: {v:g}</title></circle>')
    for i in sorted({0, len(points) - 1}):
        anchor = "start" if i == 0 else "end"
        body.append(f'<text x="{xy[i][0]:.1f}" y="{H - 8}" text-anchor="{anchor}">{escape(points[i][0])}</text>')
    return _svg(body, title)
