"""Charts as SVG text, drawn on the server: no JavaScript library to vendor, pin or load.

Pure functions from labels and numbers to an SVG document that scales to its container
(``viewBox``) and reads on a phone or a projector. Every value also appears in a
``<title>`` so a hovering manager (or a screen reader) gets the exact figure.
"""

from __future__ import annotations

import math
import unicodedata
from html import escape
from typing import Sequence

WIDTH, HEIGHT = 760, 360
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 60, 20, 44, 56
PALETTE = ("#2f6fb5", "#e08a1e", "#3a9a5b", "#c0392b", "#7d5ba6")
FONT = 'font-family="Noto Sans CJK SC, Microsoft YaHei, PingFang SC, sans-serif"'

Series = tuple[str, Sequence[float | None]]


def _nice_max(value: float) -> float:
    """A round axis top at or above ``value`` (1, 2 or 5 times a power of ten)."""
    if value <= 0:
        return 1.0
    power: float = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _fmt(v: float, step: float | None = None) -> str:
    """A value for a tooltip (one decimal below 10), or an axis label with the decimals its step needs."""
    if step is not None:
        decimals = 0
        while decimals < 6 and not math.isclose(round(step, decimals), step, rel_tol=1e-9, abs_tol=1e-12):
            decimals += 1
        return f"{v:.{decimals}f}"
    return f"{v:.0f}" if abs(v) >= 10 or v == int(v) else f"{v:.1f}"


def _text_width(text: str, size: float) -> float:
    """About how wide ``text`` is drawn at ``size`` px: a Chinese character is a full em, Latin about 0.6."""
    return sum(size if unicodedata.east_asian_width(ch) in "WF" else 0.6 * size for ch in text)


def _divisions(top: float) -> int:
    """Grid lines that land on round numbers: 0–50 by 10s, 0–20 by 5s, 0–1 by 0.2s."""
    for n in (5, 4):
        step = top / n
        power = 10 ** math.floor(math.log10(step)) if step > 0 else 1
        if any(math.isclose(step, k * power) for k in (1, 2, 2.5, 5)):
            return n
    return 4


def _frame(title: str, unit: str, top: float, legend: Sequence[str]) -> list[str]:
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" {FONT}>',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<text x="{PAD_LEFT}" y="24" font-size="16" font-weight="bold" fill="#222">{escape(title)}</text>',
        f'<text x="8" y="{PAD_TOP - 8}" font-size="11" fill="#666">{escape(unit)}</text>',
    ]
    n = _divisions(top)
    for i in range(n + 1):
        v = top * i / n
        y = PAD_TOP + plot_h - plot_h * i / n
        out.append(f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" fill="#555">{_fmt(v, top / n)}</text>')
    # The legend sits at the top right, or under the axis where the title leaves it no room.
    widths = [14 + _text_width(name, 12) + 14 for name in legend]
    x = WIDTH - PAD_RIGHT - sum(widths)
    y = 14
    if x < PAD_LEFT + _text_width(title, 16) + 16:
        x, y = PAD_LEFT, HEIGHT - 18
    for i, name in enumerate(legend):
        out.append(f'<rect x="{x:.1f}" y="{y}" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>')
        out.append(f'<text x="{x + 16:.1f}" y="{y + 10}" font-size="12" fill="#333">{escape(name)}</text>')
        x += widths[i]
    return out


def _x_labels(labels: Sequence[str], slot: float) -> list[str]:
    every = max(1, math.ceil(len(labels) / 24))  # at most ~24 labels under the axis
    out = []
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = PAD_LEFT + slot * (i + 0.5)
        out.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" font-size="11" text-anchor="middle" fill="#555">'
                   f'{escape(label)}</text>')
    return out


def _empty(title: str, no_data: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" {FONT}>'
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="16" fill="#888">'
            f'{escape(title)} · {escape(no_data)}</text></svg>')


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series], unit: str = "", no_data: str = "无数据") -> str:
    """Grouped vertical bars: one group per label, one bar per series."""
    found = [v for _, vals in series for v in vals if v is not None]
    if not labels or not found:
        return _empty(title, no_data)
    top = _nice_max(max(found))
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / len(labels)
    bar = slot * 0.8 / len(series)
    out = _frame(title, unit, top, [name for name, _ in series])
    for s_i, (name, vals) in enumerate(series):
        color = PALETTE[s_i % len(PALETTE)]
        for i, v in enumerate(vals):
            if v is None:
                continue
            h = plot_h * v / top
            x = PAD_LEFT + slot * i + slot * 0.1 + bar * s_i
            out.append(f'<rect x="{x:.1f}" y="{PAD_TOP + plot_h - h:.1f}" width="{max(bar - 1, 1):.1f}" height="{h:.1f}" '
                       f'fill="{color}"><title>{escape(labels[i])} {escape(name)}: {_fmt(v)} {escape(unit)}</title></rect>')
    out += _x_labels(labels, slot)
    out.append("</svg>")
    return "\n".join(out)


def line_chart(title: str, labels: Sequence[str], series: Sequence[Series], unit: str = "", top: float | None = None,
               no_data: str = "无数据") -> str:
    """Lines with points; a missing value breaks the line."""
    found = [v for _, vals in series for v in vals if v is not None]
    if not labels or not found:
        return _empty(title, no_data)
    top = top or _nice_max(max(found))
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / len(labels)
    out = _frame(title, unit, top, [name for name, _ in series])
    for s_i, (name, vals) in enumerate(series):
        color = PALETTE[s_i % len(PALETTE)]
        path: list[str] = []
        for i, v in enumerate(vals):
            if v is None:
                path.append("")
                continue
            x, y = PAD_LEFT + slot * (i + 0.5), PAD_TOP + plot_h - plot_h * v / top
            path.append(f"{x:.1f},{y:.1f}")
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}"><title>{escape(labels[i])} '
                       f'{escape(name)}: {_fmt(v)} {escape(unit)}</title></circle>')
        for run in " ".join(path).split("  "):
            points = run.split()
            if len(points) > 1:
                out.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" stroke-width="2"/>')
    out += _x_labels(labels, slot)
    out.append("</svg>")
    return "\n".join(out)
