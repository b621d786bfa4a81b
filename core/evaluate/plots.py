"""Charts for evaluation reports, drawn without plotting libraries: inline SVG, and PNG via Pillow.

Neither kaleido nor matplotlib is installed, and a report must open without a network, so each
chart is a short list of drawing primitives in pixels (lines, rectangles, circles, text) with two
renderers: `to_svg` (inlined in report.html) and `save_png` (evaluation_plots.png, only when
Pillow imports). Standard library only at import time; never imports gradio, torch or studio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

COLORS = ("#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3", "#ff6692", "#b6e880")
GRID, AXIS, INK = "#e5e5e5", "#888888", "#222222"
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 40, 60


@dataclass
class Chart:
    """A chart as drawing primitives: ("line", x1, y1, x2, y2, color, width, dashed),
    ("rect", x, y, w, h, color), ("circle", x, y, r, color), ("text", x, y, text, size, anchor, color)."""

    title: str
    width: int = 640
    height: int = 340
    items: list[tuple] = field(default_factory=list)

    def line(self, x1, y1, x2, y2, color=AXIS, width=1.0, dashed=False) -> None:
        self.items.append(("line", x1, y1, x2, y2, color, width, dashed))

    def text(self, x, y, text, size=11, anchor="middle", color=INK) -> None:
        if str(text):
            self.items.append(("text", x, y, str(text), size, anchor, color))


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About `count` round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + (abs(lo) or 1.0)
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if raw <= step * m)
    first = math.floor(lo / step) * step
    return [round(first + i * step, 10) for i in range(int(math.ceil((hi - first) / step)) + 1)]


def short_number(value: float) -> str:
    """A number as the axes write it: 3.2M, 12k, 0.5."""
    return _fmt(value)


def _fmt(value: float) -> str:
    # From 10,000 on in thousands (10k, not the 1k that dividing by the threshold printed).
    for threshold, scale, suffix in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(value) >= threshold:
            return f"{value / scale:.3g}{suffix}"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.0e}"
    return f"{value:g}" if abs(value) >= 1 or value == 0 else f"{value:.3g}"


class _Axis:
    """Maps data values to pixels along one axis, linear or log10, with its tick values."""

    def __init__(self, values: list[float], lo_px: float, hi_px: float, log: bool = False, zero: bool = False):
        self.log = log and all(v > 0 for v in values)
        data = [math.log10(v) for v in values] if self.log else list(values)
        lo, hi = (min(data), max(data)) if data else (0.0, 1.0)
        if zero and not self.log:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        if self.log:
            lo, hi = math.floor(lo), math.ceil(hi) if math.ceil(hi) > math.floor(lo) else math.floor(lo) + 1
            self.ticks = [10.0**e for e in range(int(lo), int(hi) + 1)]
        else:
            self.ticks = nice_ticks(lo, hi)
            lo, hi = self.ticks[0], self.ticks[-1]
        self.lo, self.hi, self.lo_px, self.hi_px = lo, hi, lo_px, hi_px

    def __call__(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        return self.lo_px + (v - self.lo) / ((self.hi - self.lo) or 1.0) * (self.hi_px - self.lo_px)


def _frame(chart: Chart, xlabel: str, ylabel: str, y: _Axis) -> None:
    w, h = chart.width, chart.height
    chart.text(w / 2, 22, chart.title, size=14)
    for tick in y.ticks:
        chart.line(LEFT, y(tick), w - RIGHT, y(tick), GRID)
        chart.text(LEFT - 6, y(tick) + 4, _fmt(tick), anchor="end")
    chart.line(LEFT, h - BOTTOM, w - RIGHT, h - BOTTOM)
    chart.line(LEFT, TOP, LEFT, h - BOTTOM)
    chart.text(w / 2, h - 12, xlabel)
    chart.text(8, TOP - 12, ylabel, anchor="start")


def bar_chart(
    title: str,
    labels: list[str],
    values: list[float],
    *,
    ylabel: str = "",
    xlabel: str = "",
    ref: tuple[float, str] | None = None,
    ymax: float | None = None,
) -> Chart:
    """Vertical bars, one per label; `ref` draws a dashed reference line (e.g. chance)."""
    chart = Chart(title, width=max(480, min(90 * len(labels), 60 * len(labels) + 240) + LEFT + RIGHT))
    extra = [ref[0]] if ref else []
    # With a reference line, the plot starts a row lower: its key sits in that row, above the
    # tallest bar's value label (at the right end it overlapped the last bar).
    plot_top = TOP + 16 if ref else TOP
    y = _Axis(list(values) + extra + ([ymax] if ymax is not None else []), chart.height - BOTTOM, plot_top, zero=True)
    _frame(chart, xlabel, ylabel, y)
    slot = (chart.width - LEFT - RIGHT) / max(len(labels), 1)
    for i, (label, value) in enumerate(zip(labels, values)):
        x0 = LEFT + i * slot + slot * 0.15
        top = y(value)
        chart.items.append(("rect", x0, min(top, y(0)), slot * 0.7, abs(y(0) - top), COLORS[0]))
        chart.text(x0 + slot * 0.35, min(top, y(0)) - 4, f"{value:.3g}", size=10)
        chart.text(x0 + slot * 0.35, chart.height - BOTTOM + 16, _short(label, int(slot / 6.5)), size=10)
    if ref:
        chart.line(LEFT, y(ref[0]), chart.width - RIGHT, y(ref[0]), COLORS[1], 1.5, dashed=True)
        key_end = chart.width - RIGHT - 6 * len(ref[1]) - 6
        chart.line(key_end - 18, TOP - 4, key_end, TOP - 4, COLORS[1], 1.5, dashed=True)
        chart.text(chart.width - RIGHT, TOP, ref[1], size=10, anchor="end", color=COLORS[1])
    return chart


ROW, GROUP_ROW, LABEL_W = 16, 22, 300  # horizontal bars: px per bar, per group heading, label column


def hbar_chart(
    title: str,
    rows: list[tuple[str, float, str]],
    *,
    xlabel: str = "",
    ref: tuple[float, str] | None = None,
    xmax: float | None = None,
) -> Chart:
    """Horizontal bars, one row per (label, value, group), grouped under their group's heading in
    the order given; the chart grows with the rows, so every label stays readable at any count
    (67 BLiMP paradigms: 67 rows of 16 px, not 67 columns)."""
    groups = list(dict.fromkeys(g for _, _, g in rows))
    named = [g for g in groups if g]
    height = TOP + 10 + len(rows) * ROW + len(named) * GROUP_ROW + BOTTOM
    chart = Chart(title, width=LABEL_W + 420, height=height)
    values = [v for _, v, _ in rows] + ([ref[0]] if ref else []) + ([xmax] if xmax is not None else [])
    x = _Axis(values, LABEL_W, chart.width - RIGHT - 40, zero=True)
    bottom = height - BOTTOM
    chart.text(chart.width / 2, 22, title, size=14)
    for tick in x.ticks:
        chart.line(x(tick), TOP, x(tick), bottom, GRID)
        chart.text(x(tick), bottom + 16, _fmt(tick), size=10)
    chart.line(LABEL_W, bottom, chart.width - RIGHT - 40, bottom)
    chart.text((LABEL_W + chart.width - RIGHT) / 2, height - 12, xlabel)
    y = TOP + 10
    for group in groups:
        if group:
            chart.text(8, y + 15, group, size=12, anchor="start")
            y += GROUP_ROW
        for label, value, _ in (r for r in rows if r[2] == group):
            left, right = sorted((x(0), x(value)))
            chart.items.append(("rect", left, y + 2, max(right - left, 1), ROW - 4, COLORS[0]))
            chart.text(LABEL_W - 6, y + ROW - 4, _short(label, 46), size=10, anchor="end")
            chart.text(right + 4, y + ROW - 4, f"{value:.3g}", size=10, anchor="start")
            y += ROW
    if ref:
        chart.line(x(ref[0]), TOP, x(ref[0]), bottom, COLORS[1], 1.5, dashed=True)
        chart.text(x(ref[0]) + 4, TOP - 4, ref[1], size=10, anchor="start", color=COLORS[1])
    return chart


def line_chart(
    title: str,
    series: dict[str, list[tuple[float, float]]],
    *,
    xlabel: str = "",
    ylabel: str = "",
    log_x: bool = False,
    log_y: bool = False,
    markers: bool = False,
    dashed: dict[str, list[tuple[float, float]]] | None = None,
) -> Chart:
    """One polyline per named series of (x, y) points, with a legend; `dashed[name]` adds a dashed
    polyline in that series' colour (e.g. a curve fitted to its points)."""
    chart = Chart(title)
    dashed = dashed or {}
    points = [p for pts in [*series.values(), *dashed.values()] for p in pts]
    x = _Axis([p[0] for p in points], LEFT, chart.width - RIGHT, log=log_x)
    y = _Axis([p[1] for p in points], chart.height - BOTTOM, TOP, log=log_y)
    _frame(chart, xlabel, ylabel, y)
    _x_ticks(chart, x)
    for i, (name, pts) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        pts = sorted(pts)
        for (x1, y1), (x2, y2) in zip(pts, pts[1:]):
            chart.line(x(x1), y(y1), x(x2), y(y2), color, 2.0)
        if markers or len(pts) == 1:
            for px, py in pts:
                chart.items.append(("circle", x(px), y(py), 3.5, color))
        fit = sorted(dashed.get(name, []))
        for (x1, y1), (x2, y2) in zip(fit, fit[1:]):
            chart.line(x(x1), y(y1), x(x2), y(y2), color, 1.5, dashed=True)
        _legend(chart, i, name, color)
    return chart


def scatter_chart(
    title: str,
    points: list[tuple[str, float, float]],
    *,
    xlabel: str = "",
    ylabel: str = "",
    log_x: bool = False,
    log_y: bool = False,
    colors: dict[str, str] | None = None,
) -> Chart:
    """Labelled points (label, x, y): e.g. perplexity against parameter count, one per run;
    `colors` keeps one colour per label across charts."""
    chart = Chart(title)
    x = _Axis([p[1] for p in points], LEFT + 10, chart.width - RIGHT - 10, log=log_x)
    y = _Axis([p[2] for p in points], chart.height - BOTTOM, TOP, log=log_y)
    _frame(chart, xlabel, ylabel, y)
    _x_ticks(chart, x)
    for i, (label, px, py) in enumerate(points):
        color = (colors or {}).get(label, COLORS[i % len(COLORS)])
        chart.items.append(("circle", x(px), y(py), 5, color))
        chart.text(x(px) + 7, y(py) - 7, label, size=10, anchor="start", color=color)
    return chart


def _x_ticks(chart: Chart, x: _Axis) -> None:
    for tick in x.ticks:
        if x.lo_px - 1 <= x(tick) <= x.hi_px + 1:
            chart.line(x(tick), chart.height - BOTTOM, x(tick), chart.height - BOTTOM + 4)
            chart.text(x(tick), chart.height - BOTTOM + 16, _fmt(tick), size=10)


def _legend(chart: Chart, i: int, name: str, color: str) -> None:
    y = TOP + 6 + 16 * i
    chart.line(chart.width - RIGHT - 150, y, chart.width - RIGHT - 132, y, color, 3.0)
    chart.text(chart.width - RIGHT - 128, y + 4, _short(name, 22), size=10, anchor="start")


def _short(text: str, limit: int) -> str:
    limit = max(limit, 4)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_svg(chart: Chart) -> str:
    """The chart as an inline <svg> element."""
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{chart.width}" height="{chart.height}" '
        f'viewBox="0 0 {chart.width} {chart.height}" font-family="sans-serif" role="img">'
        f"<title>{escape(chart.title)}</title>"
    ]
    for item in chart.items:
        kind = item[0]
        if kind == "line":
            _, x1, y1, x2, y2, color, width, dashed = item
            dash = ' stroke-dasharray="5,4"' if dashed else ""
            out.append(
                f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" stroke-width="{width}"{dash}/>'
            )
        elif kind == "rect":
            _, x, y, w, h, color = item
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{color}"/>')
        elif kind == "circle":
            _, x, y, r, color = item
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{color}"/>')
        else:
            _, x, y, text, size, anchor, color = item
            out.append(
                f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{color}">{escape(text)}</text>'
            )
    return "".join(out) + "</svg>"


def save_png(charts: list[Chart], path: str | Path, columns: int = 2) -> bool:
    """All charts on one PNG (the guide's evaluation_plots.png), `columns` to a row, each row as tall
    as its tallest chart (a tall bar list does not stretch the others); False without Pillow."""
    try:
        from PIL import Image, ImageDraw, ImageFont
    except ImportError:
        return False
    if not charts:
        return False
    rows = [charts[i : i + columns] for i in range(0, len(charts), columns)]
    width = max(sum(c.width for c in row) for row in rows)
    image = Image.new("RGB", (width, sum(max(c.height for c in row) for row in rows)), "white")
    draw = ImageDraw.Draw(image)
    fonts: dict[int, object] = {}
    oy = 0
    for row in rows:
        ox = 0
        for chart in row:
            for item in chart.items:
                _draw(draw, item, ox, oy, fonts, ImageFont)
            ox += chart.width
        oy += max(c.height for c in row)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")
    return True


def _draw(draw, item: tuple, ox: float, oy: float, fonts: dict, image_font) -> None:
    kind = item[0]
    if kind == "line":
        _, x1, y1, x2, y2, color, width, _dashed = item
        draw.line([(ox + x1, oy + y1), (ox + x2, oy + y2)], fill=color, width=max(1, round(width)))
    elif kind == "rect":
        _, x, y, w, h, color = item
        draw.rectangle([ox + x, oy + y, ox + x + w, oy + y + h], fill=color)
    elif kind == "circle":
        _, x, y, r, color = item
        draw.ellipse([ox + x - r, oy + y - r, ox + x + r, oy + y + r], fill=color)
    else:
        _, x, y, text, size, anchor, color = item
        if size not in fonts:
            try:
                fonts[size] = image_font.load_default(size=size)
            except (TypeError, OSError):  # an old Pillow or no FreeType: the fixed bitmap font
                fonts[size] = image_font.load_default()
        font = fonts[size]
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        width = right - left
        shift = {"start": 0, "middle": width / 2, "end": width}[anchor]
        draw.text((ox + x - shift, oy + y - (bottom - top) - 1), text, fill=color, font=font)
