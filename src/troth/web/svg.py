"""Small server-rendered SVG bar charts for the console (no script, nothing fetched).

A chart is an ``<svg role="img">`` named by its ``<title>`` and described by a ``<desc>``
that says the numbers in words, so a screen reader hears what a sighted reader sees; the
page puts the same numbers in a table beside it. Every text is escaped. Colours meet
WCAG AA against white, and a second series is told apart by a pattern-free lighter shade
plus the legend's words."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

COLOURS = ("#0b4f9c", "#b35c00", "#0b6b2e", "#a1120b")
W, H = 360, 200
LEFT, RIGHT, TOP, BOTTOM = 30, 6, 14, 40


def _nice_max(top: int) -> int:
    """A round axis maximum at or above ``top`` (at least 1)."""
    if top <= 5:
        return max(top, 1)
    step = int(10 ** (len(str(top)) - 1))
    for m in (1, 2, 5, 10):
        if top <= m * step:
            return m * step
    return top


def bar_chart(
    chart_id: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[int]]],
) -> Markup:
    """Grouped vertical bars: one group per label, one bar per series in it."""
    n = max(len(labels), 1)
    k = max(len(series), 1)
    top = _nice_max(max((v for _, vals in series for v in vals), default=0))
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM
    group = plot_w / n
    bar = max(group * 0.8 / k, 1.0)
    words = "; ".join(
        f"{name}: " + ", ".join(f"{lab} {v}" for lab, v in zip(labels, vals, strict=False))
        for name, vals in series
    )
    out = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {W} {H}"'
        f' width="{W}" height="{H}" aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(words)}</desc>',
    ]
    # Axis and grid: 0, half, top.
    for frac in (0.0, 0.5, 1.0) if top % 2 == 0 else (0.0, 1.0):
        y = TOP + plot_h * (1 - frac)
        value = top * frac
        out.append(
            f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#c8c8c8"/>'
        )
        out.append(
            f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11"'
            f' fill="#1a1a1a">{value:g}</text>'
        )
    every = max(1, -(-n // 5))  # at most about five labels under the axis
    for i, lab in enumerate(labels):
        gx = LEFT + group * i + group * 0.1
        for j, (_, vals) in enumerate(series):
            v = vals[i] if i < len(vals) else 0
            h = plot_h * v / top
            x = gx + bar * j
            out.append(
                f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}"'
                f' height="{h:.1f}" fill="{COLOURS[j % len(COLOURS)]}"/>'
            )
        if i % every == 0:
            out.append(
                f'<text x="{LEFT + group * i + group / 2:.1f}" y="{H - BOTTOM + 14}"'
                f' text-anchor="middle" font-size="11" fill="#1a1a1a">{escape(lab)}</text>'
            )
    # Legend.
    x = LEFT
    for j, (name, _) in enumerate(series):
        colour = COLOURS[j % len(COLOURS)]
        out.append(f'<rect x="{x}" y="{H - 14}" width="10" height="10" fill="{colour}"/>')
        out.append(
            f'<text x="{x + 14}" y="{H - 5}" font-size="11" fill="#1a1a1a">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text above is escaped


def hbar_chart(chart_id: str, title: str, items: Sequence[tuple[str, int]]) -> Markup:
    """Horizontal bars, one per item (label, count), largest first as given."""
    rows = list(items)[:12]
    height = TOP + 22 * max(len(rows), 1) + 8
    top = _nice_max(max((v for _, v in rows), default=0))
    label_w = 150
    plot_w = W - label_w - 40
    words = "; ".join(f"{lab}: {v}" for lab, v in rows) or "none"
    out = [
        f'<svg id="{escape(chart_id)}" class="chart" role="img" viewBox="0 0 {W} {height}"'
        f' width="{W}" height="{height}"'
        f' aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d"'
        ' xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(words)}</desc>',
    ]
    for i, (lab, v) in enumerate(rows):
        y = TOP + 22 * i
        w = plot_w * v / top
        out.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12"'
            f' fill="#1a1a1a">{escape(lab[:24])}</text>'
        )
        out.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="15" fill="{COLOURS[0]}"/>'
        )
        out.append(
            f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" font-size="12" fill="#1a1a1a">{v}</text>'
        )
    if not rows:
        out.append(f'<text x="{LEFT}" y="{TOP + 14}" font-size="12" fill="#4a4a4a">none</text>')
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text above is escaped
