"""Small, dependency-free SVG charts for the static report.

Inline SVG opens in any browser with no script, no server and no network, and is plain text a
test can check. Two chart shapes cover the page: vertical bars per day (stacked by a series:
categories, reasons; or one series) and horizontal bars (a ranking). Every bar is a `<rect
class="bar">` with `data-label`/`data-value` and a `<title>` tooltip, so a reader hovering it
sees the exact number and a test can count and measure bars. Values are plotted as floats,
labels keep the exact text (money as `Decimal` strings).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

# Okabe–Ito's colour-blind-safe eight, then Paul Tol's muted ones: 16 distinct colours, enough
# for every quarantine reason (15) without two series sharing one; repeated beyond that
PALETTE = (
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000",
    "#882255", "#44AA99", "#999933", "#AA4499", "#332288", "#88CCEE", "#117733", "#DDCC77",
)  # fmt: skip
FONT = 'font-family="system-ui, sans-serif" font-size="11"'

Number = int | float | Decimal


@dataclass(frozen=True)
class Size:
    width: int = 720
    height: int = 260
    left: int = 64  # room for the value axis labels
    right: int = 16
    top: int = 16
    bottom: int = 40  # room for the date labels


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _nice_max(value: float, integer: bool) -> float:
    """A round axis maximum at or above `value`: four grid steps of 1, 2, 2.5 or 5 times a
    power of ten (whole steps for counts, so no axis reads 0.75 users)."""
    if value <= 0:
        return 4.0
    quarter = value / 4
    power = 10 ** math.floor(math.log10(quarter))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if quarter <= m * power * (1 + 1e-9))
    if integer:
        step = max(1, math.ceil(step))
    return 4 * step


def _fmt(value: Number) -> str:
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _svg(size: Size, label: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'aria-label="{escape(label)}" viewBox="0 0 {size.width} {size.height}" '
        f'width="{size.width}" height="{size.height}" {FONT}>' + "".join(body) + "</svg>"
    )


def _bar(x: float, y: float, w: float, h: float, fill: str, label: str, value: Number) -> str:
    text = escape(f"{label}: {_fmt(value)}")
    return (
        f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" '
        f'height="{max(h, 0.5):.1f}" fill="{fill}" data-label="{escape(label)}" '
        f'data-value="{escape(str(value))}"><title>{text}</title></rect>'
    )


def legend(series: Sequence[str]) -> str:
    """An HTML legend (it wraps, unlike SVG text) for a stacked chart's series."""
    items = "".join(
        f'<span class="key"><i style="background:{colour(i)}"></i>{escape(name)}</span>'
        for i, name in enumerate(series)
    )
    return f'<div class="legend">{items}</div>'


def stacked_bars(
    columns: Sequence[str],
    series: Mapping[str, Sequence[Number]],
    label: str,
    size: Size = Size(),
) -> str:
    """One bar per column (a day), stacked by series in the given order; `series[name][i]` is
    the value of column i. An empty chart says so rather than drawing axes over nothing."""
    s = size
    if not columns or not series:
        return empty(label, size)
    totals = [sum(float(values[i]) for values in series.values()) for i in range(len(columns))]
    integer = all(isinstance(v, int) for values in series.values() for v in values)
    top = _nice_max(max(totals), integer)
    plot_w, plot_h = s.width - s.left - s.right, s.height - s.top - s.bottom
    slot = plot_w / len(columns)
    bar_w = max(min(slot * 0.7, 48), 1)
    body = _axis(s, top, plot_w, plot_h)
    every = max(1, round(len(columns) / 12))  # at most about 12 date labels
    for i, column in enumerate(columns):
        x = s.left + i * slot + (slot - bar_w) / 2
        y = s.top + plot_h
        for j, (name, values) in enumerate(series.items()):
            value = values[i]
            if not value:
                continue
            h = float(value) / top * plot_h
            y -= h
            body.append(_bar(x, y, bar_w, h, colour(j), f"{column} {name}", value))
        if i % every == 0:
            body.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{s.height - s.bottom + 16}" '
                f'text-anchor="middle">{escape(column)}</text>'
            )
    return _svg(size, label, body)


def horizontal_bars(
    items: Sequence[tuple[str, Number]], label: str, width: int = 720, row: int = 26
) -> str:
    """A ranking: one labelled bar per item, longest first as given."""
    if not items:
        return empty(label, Size(width=width, height=60))
    label_w, value_w = 260, 90
    size = Size(width=width, height=row * len(items) + 12)
    top = max(float(v) for _, v in items) or 1.0
    plot_w = width - label_w - value_w
    body = []
    for i, (name, value) in enumerate(items):
        y = 6 + i * row
        w = float(value) / top * plot_w
        body.append(
            f'<text x="{label_w - 8}" y="{y + row / 2 + 4:.1f}" text-anchor="end">'
            f"{escape(_clip(name, 40))}</text>"
        )
        body.append(_bar(label_w, y + 3, w, row - 8, colour(0), name, value))
        body.append(
            f'<text x="{label_w + w + 6:.1f}" y="{y + row / 2 + 4:.1f}">{_fmt(value)}</text>'
        )
    return _svg(size, label, body)


def empty(label: str, size: Size = Size(height=60)) -> str:
    body = [
        f'<text x="{size.width / 2}" y="{size.height / 2}" text-anchor="middle" '
        f'fill="#666">no data yet</text>'
    ]
    return _svg(size, label, body)


def _axis(s: Size, top: float, plot_w: float, plot_h: float) -> list[str]:
    """Four horizontal grid lines with their values, and the baseline."""
    out = []
    for k in range(5):
        value = top * k / 4
        y = s.top + plot_h - plot_h * k / 4
        out.append(
            f'<line x1="{s.left}" x2="{s.left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{"#999" if k == 0 else "#e3e3e3"}"/>'
        )
        out.append(
            f'<text x="{s.left - 6}" y="{y + 4:.1f}" text-anchor="end">{_tick(value)}</text>'
        )
    return out


def _tick(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
