"""Server-rendered SVG charts for the dashboard: no JavaScript, no charting library to vendor,
readable by screen readers (a title and a description, and the numbers as text)."""

from __future__ import annotations

from html import escape


def _scale(values: list[int], length: float) -> list[float]:
    top = max(values, default=0) or 1
    return [length * v / top for v in values]


def columns_svg(series: list[tuple[str, int]], title: str, width: int = 640,
                height: int = 180) -> str:
    """Vertical bars (a time series), every fifth label shown."""
    count = max(len(series), 1)
    slot = width / count
    heights = _scale([v for _, v in series], height - 40)
    bars = []
    for i, ((label, value), bar) in enumerate(zip(series, heights, strict=True)):
        x = i * slot + 2
        y = height - 20 - bar
        bars.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot - 4:.1f}" height="{bar:.1f}" '
                    f'fill="#0b5394"><title>{escape(label)}: {value:,}</title></rect>')
        if i % 5 == 0 or i == count - 1:
            bars.append(f'<text x="{x + slot / 2:.1f}" y="{height - 5}" font-size="10" '
                        f'text-anchor="middle" fill="#4a4a4a">{escape(label)}</text>')
    total = sum(v for _, v in series)
    return (f'<svg role="img" viewBox="0 0 {width} {height}" width="100%" '
            f'aria-labelledby="t-cols d-cols"><title id="t-cols">{escape(title)}</title>'
            f'<desc id="d-cols">{total:,} in all</desc>{"".join(bars)}</svg>')


def bars_svg(items: list[tuple[str, int]], title: str, width: int = 640) -> str:
    """Horizontal bars with their labels and numbers (a ranking)."""
    row, label_width = 22, 40
    height = row * max(len(items), 1) + 10
    lengths = _scale([v for _, v in items], width - label_width - 80)
    parts = []
    for i, ((label, value), length) in enumerate(zip(items, lengths, strict=True)):
        y = 5 + i * row
        parts.append(f'<text x="0" y="{y + 15}" font-size="13" fill="#1a1a1a">'
                     f'{escape(label)}</text>'
                     f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="16" '
                     f'fill="#0b5394"/><text x="{label_width + length + 6:.1f}" y="{y + 15}" '
                     f'font-size="13" fill="#1a1a1a">{value:,}</text>')
    return (f'<svg role="img" viewBox="0 0 {width} {height}" width="100%" '
            f'aria-labelledby="t-bars"><title id="t-bars">{escape(title)}</title>'
            f'{"".join(parts)}</svg>')
