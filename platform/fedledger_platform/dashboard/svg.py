"""Line charts as inline SVG, drawn on the server: labelled axes with round-number ticks, one
polyline per series, a point (with its value as a tooltip) per measurement.

The markup uses presentation attributes and classes only (no ``style`` attributes), so the
dashboard's Content-Security-Policy can forbid inline styles; colours come from the stylesheet
(``.series-0``, ``.series-1``, …).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Series", "line_chart", "nice_ticks"]

_WIDTH, _HEIGHT = 640, 300
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 16, 48


@dataclass(frozen=True)
class Series:
    """One line: a name for the legend and ``(x, y)`` points (NaN ``y`` values are left out)."""

    name: str
    points: Sequence[tuple[float, float]]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` evenly spaced round values covering ``low..high`` (1, 2 or 5 × 10ⁿ apart)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"ticks need a finite range, got {low}..{high}")
    if high < low:
        low, high = high, low
    if high == low:  # one value: a small range around it
        pad = abs(low) * 0.05 or 0.5
        low, high = low - pad, high + pad
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    count_needed = math.ceil(round((high - first) / step, 9))  # steps until past ``high``
    return [round(first + i * step, 12) for i in range(count_needed + 1)]


def _label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) < 0.001:
        return f"{value:.2g}"
    return f"{value:.4g}"


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    integer_x: bool = True,
) -> str:
    """An ``<svg>`` chart of ``series`` with labelled axes; an empty frame says "no data yet"."""
    finite = [(x, y) for s in series for x, y in s.points if math.isfinite(x) and math.isfinite(y)]
    esc = html.escape
    parts = [
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{esc(title)}">',
        f"<title>{esc(title)}</title>",
    ]
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    parts.append(f'<rect class="plot" x="{_LEFT}" y="{_TOP}" width="{plot_w}" height="{plot_h}"/>')
    # Axis titles: x under the ticks, y turned along the left edge.
    parts.append(
        f'<text class="axis-title" x="{_LEFT + plot_w / 2:.1f}" y="{_HEIGHT - 8}" '
        f'text-anchor="middle">{esc(x_label)}</text>'
    )
    parts.append(
        f'<text class="axis-title" transform="translate(14 {_TOP + plot_h / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle">{esc(y_label)}</text>'
    )
    if not finite:
        parts.append(
            f'<text class="empty" x="{_LEFT + plot_w / 2:.1f}" y="{_TOP + plot_h / 2:.1f}" '
            'text-anchor="middle">no data yet</text></svg>'
        )
        return "".join(parts)

    xs = [x for x, _ in finite]
    ys = [y for _, y in finite]
    x_ticks = _x_ticks(min(xs), max(xs), integer_x)
    y_ticks = nice_ticks(min(ys), max(ys))
    x0, x1 = x_ticks[0], x_ticks[-1]
    y0, y1 = y_ticks[0], y_ticks[-1]

    def px(x: float) -> float:
        return _LEFT + (x - x0) / (x1 - x0) * plot_w if x1 > x0 else _LEFT + plot_w / 2

    def py(y: float) -> float:
        return _TOP + plot_h - (y - y0) / (y1 - y0) * plot_h

    for tick in y_ticks:
        y = py(tick)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_label(tick)}</text>"
        )
    for tick in x_ticks:
        x = px(tick)
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{_TOP + plot_h + 18}" text-anchor="middle">'
            f"{_label(tick)}</text>"
        )
    for index, line in enumerate(series):
        points = [(x, y) for x, y in line.points if math.isfinite(x) and math.isfinite(y)]
        if not points:
            continue
        css = f"series-{index % 4}"
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
        parts.append(f'<polyline class="line {css}" points="{path}"/>')
        for x, y in points:
            parts.append(
                f'<circle class="point {css}" cx="{px(x):.1f}" cy="{py(y):.1f}" r="4">'
                f"<title>{esc(line.name)}: {_label(x)} → {y:.4g}</title></circle>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _x_ticks(low: float, high: float, integer: bool) -> list[float]:
    if not integer:
        return nice_ticks(low, high)
    first, last = math.floor(low), math.ceil(high)
    if first == last:  # one round: centred, without a negative round
        return [float(first), first + 1.0] if first <= 0 else [first - 1.0, first, first + 1.0]
    step = max(1, math.ceil((last - first) / 10))
    return [float(v) for v in range(first, last + 1, step)] + (
        [] if (last - first) % step == 0 else [float(last)]
    )
