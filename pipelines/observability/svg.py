"""Small inline SVG charts for the I/O report: grouped horizontal bars and a run timeline.

Hand-written so the page stands alone (no script, no network, no plotting library); every bar carries a
<title>, which browsers show on hover, with its exact value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH = 780
LABEL_W = 200  # room for stage names
VALUE_W = 90  # room for the value printed after each bar
ROW_H = 15
GROUP_GAP = 9
TITLE_H = 26
LEGEND_H = 20
PLOT_W = WIDTH - LABEL_W - VALUE_W
FONT = 'font-family="system-ui, sans-serif" font-size="11"'

Fmt = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    color: str
    values: Sequence[float]


def _svg(height: float, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-label="{escape(title)}" {FONT}>'
        f'<text x="0" y="16" font-size="14" font-weight="600">{escape(title)}</text>{"".join(body)}</svg>'
    )


def _legend(series: Sequence[Series], y: float) -> list[str]:
    out: list[str] = []
    x = float(LABEL_W)
    for s in series:
        out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{s.color}"/>')
        out.append(f'<text x="{x + 14}" y="{y}">{escape(s.name)}</text>')
        x += 24 + 6.5 * len(s.name)
    return out


def bars(title: str, categories: Sequence[str], series: Sequence[Series], fmt: Fmt) -> str:
    """One group of bars per category, one bar per series, all on one linear scale."""
    vmax = max((v for s in series for v in s.values), default=0.0) or 1.0
    group_h = len(series) * ROW_H + GROUP_GAP
    top = TITLE_H + LEGEND_H
    body = _legend(series, TITLE_H + 10)
    for i, category in enumerate(categories):
        y0 = top + i * group_h
        body.append(
            f'<text x="{LABEL_W - 8}" y="{y0 + len(series) * ROW_H / 2 + 4}" text-anchor="end">'
            f"{escape(category)}</text>"
        )
        for j, s in enumerate(series):
            value = s.values[i]
            width = PLOT_W * value / vmax if value > 0 else 0.0
            y = y0 + j * ROW_H
            body.append(
                f'<rect x="{LABEL_W}" y="{y}" width="{max(width, 1.0 if value > 0 else 0.0):.1f}" '
                f'height="{ROW_H - 3}" fill="{s.color}"><title>{escape(s.name)}: {escape(fmt(value))}'
                "</title></rect>"
            )
            label_x = LABEL_W + width + 4
            body.append(f'<text x="{label_x:.1f}" y="{y + ROW_H - 5}">{escape(fmt(value))}</text>')
    height = top + len(categories) * group_h + 4
    return _svg(height, body, title)


def nice_step(span: float, ticks: int = 6) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about `ticks` ticks over `span`."""
    raw = max(span, 1e-9) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


@dataclass(frozen=True, slots=True)
class Span:
    label: str
    start_s: float
    duration_s: float
    io_share: float  # the part of the bar drawn in the I/O colour


def timeline(title: str, spans: Sequence[Span], *, color: str, io_color: str, fmt: Fmt) -> str:
    """A Gantt chart of the run: one row per stage, the I/O-wait share of each bar in its own colour."""
    end = max((s.start_s + s.duration_s for s in spans), default=0.0) or 1.0
    top = TITLE_H + LEGEND_H + 14
    legend = [Series("stage wall time", color, []), Series("of which waiting on I/O", io_color, [])]
    body = _legend(legend, TITLE_H + 10)
    step = nice_step(end)
    tick = 0.0
    bottom = top + len(spans) * 18
    while tick <= end * 1.0001:
        x = LABEL_W + PLOT_W * tick / end
        body.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom}" stroke="#ddd"/>')
        body.append(f'<text x="{x:.1f}" y="{top - 6}" text-anchor="middle" fill="#666">{tick:g} s</text>')
        tick += step
    for i, s in enumerate(spans):
        y = top + i * 18
        x = LABEL_W + PLOT_W * s.start_s / end
        width = max(PLOT_W * s.duration_s / end, 1.0)
        io_width = width * min(max(s.io_share, 0.0), 1.0)
        tip = f"{s.label}: {fmt(s.duration_s)} from {s.start_s:.2f} s, I/O wait {s.io_share:.0%}"
        body.append(f'<text x="{LABEL_W - 8}" y="{y + 11}" text-anchor="end">{escape(s.label)}</text>')
        body.append(
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="14" fill="{color}">'
            f"<title>{escape(tip)}</title></rect>"
        )
        if io_width >= 0.5:
            body.append(f'<rect x="{x:.1f}" y="{y}" width="{io_width:.1f}" height="14" fill="{io_color}"/>')
        body.append(f'<text x="{x + width + 4:.1f}" y="{y + 11}">{escape(fmt(s.duration_s))}</text>')
    return _svg(top + len(spans) * 18 + 6, body, title)
