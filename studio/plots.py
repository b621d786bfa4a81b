"""Pure functions: metric rows -> Plotly figures. No Gradio, no database, no state (one memo: the
dashboard's empty grid).

Rows are what `History.metrics_since` returns (dicts with step, name, value, time, tokens,
words), or columns per metric as `History.metric_columns` returns and `studio.curves` holds. Long
series are downsampled (min/max kept) so a figure builds in a few milliseconds.
"""

from __future__ import annotations

import functools
import json
import math
from collections import defaultdict
from typing import Iterable, Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.train.probes import PAIRS_METRIC
from studio.curves import minmax_indices

MAX_POINTS = 2000  # per trace; a 20k-point figure took ~90 ms to build (STACK.md)
X_AXES = {"step": "step", "tokens": "tokens seen", "words": "words seen", "time": "minutes"}
PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D")
# The training dashboard: (metric names, panel title), one panel each.
PANELS = (
    (("loss", "eval_loss", "ce_loss", "kl_loss"), "loss"),
    (("lr",), "learning rate"),
    (("grad_norm",), "gradient norm"),
    (("tokens_per_s",), "tokens / s"),
)
# Minimal-pair accuracy logged during training (core.train.probes), with one series per field.
PAIRS, PAIRS_TITLE = PAIRS_METRIC, "grammar: minimal-pair accuracy (BLiMP-style)"
PAIRS_AXIS = "5"  # the fifth cell of the grid: the row under the 2 x 2 panels
# A series this short is drawn with markers as well as lines: one point is no line, and a panel
# with only lines would look empty until the second log (the first-hour report: "the panel looks
# empty"). Longer series are lines only (markers on 2000 points cost rendering on every tick).
SPARSE_POINTS = 50
# A panel whose values are all equal (one point, a constant learning rate) gets an explicit range
# around them, so plotly picks round ticks instead of labelling the one value (5.981946563720702).
FLAT_PAD = 0.1  # of the value's size
# A distillation run's two loss terms, drawn dashed in the loss panel: (legend, colour).
LOSS_PARTS = {"ce_loss": ("CE (labels)", PALETTE[3]), "kl_loss": ("KL (teachers)", PALETTE[5])}


def downsample(xs: Sequence, ys: Sequence, limit: int = MAX_POINTS) -> tuple[list, list]:
    """At most `limit` points, keeping each x bucket's lowest and highest y and the last point."""
    if len(xs) <= limit:
        return list(xs), list(ys)
    idx = minmax_indices(xs, ys, limit)
    return [xs[i] for i in idx], [ys[i] for i in idx]


def smooth(values: Sequence[float], weight: float = 0.9) -> list[float]:
    """Exponential moving average with TensorBoard's debiasing (the first points are not dragged to 0)."""
    out, last, num = [], 0.0, 0
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(v)
            continue
        num += 1
        last = last * weight + (1 - weight) * v
        out.append(last / (1 - weight**num))
    return out


def series(rows: Iterable[dict], x_axis: str = "step") -> dict[str, tuple[list, list]]:
    """Group rows by metric name into (x, y) lists; `time` becomes minutes since the first row."""
    grouped: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    rows = list(rows)
    t0 = min((r["time"] for r in rows if r.get("time") is not None), default=0.0)
    for r in rows:
        if r.get("value") is None:
            continue
        x = {
            "step": r["step"],
            "tokens": r.get("tokens"),
            "words": r.get("words"),
            "time": (r["time"] - t0) / 60.0 if r.get("time") is not None else None,
        }[x_axis]
        if x is None:
            continue
        xs, ys = grouped[r["name"]]
        xs.append(x)
        ys.append(r["value"])
    return dict(grouped)


def columns_series(columns: Mapping[str, Mapping[str, Sequence[float]]], x_axis: str = "step") -> dict[str, tuple[list, list]]:
    """`series` for columns per metric (NaN for unknown): points without a value or an x dropped."""
    t0 = min((c["time"][0] for c in columns.values() if len(c["time"]) and not math.isnan(c["time"][0])), default=0.0)
    out = {}
    for name, cols in columns.items():
        xs = cols[x_axis]
        pairs = [
            ((x - t0) / 60.0 if x_axis == "time" else x, y)
            for x, y in zip(xs, cols["value"])
            if not (math.isnan(x) or math.isnan(y))
        ]
        if x_axis in ("step", "tokens", "words"):
            pairs = [(int(x), y) for x, y in pairs]
        if pairs:
            out[name] = ([x for x, _ in pairs], [y for _, y in pairs])
    return out


def training_figure(
    rows: Iterable[dict] | Mapping[str, Mapping], x_axis: str = "step", smoothing: float = 0.6, title: str = ""
) -> go.Figure:
    """The live dashboard: loss (raw, smoothed, eval), learning rate, gradient norm, throughput, and
    minimal-pair accuracy across the bottom when the run scores pairs (`eval.pairs_every`).

    Built from plain dicts on a memoised grid, without plotly's per-property validation: this runs
    on every tick of every open Train tab, and validated traces on a fresh `make_subplots` took
    ~69 ms per figure and its JSON against ~12 ms this way (the same JSON for the browser).
    """
    data = columns_series(rows, x_axis) if isinstance(rows, Mapping) else series(rows, x_axis)
    grammar = PAIRS in data
    traces = []
    for i, (names, _) in enumerate(PANELS):
        axis = "" if i == 0 else str(i + 1)  # the grid's cells, row by row: x/y, x2/y2, x3/y3, x4/y4
        for name in names:
            if name not in data:
                continue
            xs, ys = downsample(*data[name])
            if name == "loss":
                traces.append(_line(xs, ys, axis, "loss", PALETTE[0], width=1, opacity=0.35))
                traces.append(_line(xs, smooth(ys, smoothing), axis, "loss (smoothed)", PALETTE[0], width=2.5))
            elif name == "eval_loss":
                traces.append(_line(xs, ys, axis, "eval loss", PALETTE[1], width=2, mode="lines+markers"))
            elif name in LOSS_PARTS:
                label, color = LOSS_PARTS[name]
                traces.append(_line(xs, smooth(ys, smoothing), axis, label, color, width=1.5, dash="dash"))
            else:
                traces.append(_line(xs, ys, axis, name, PALETTE[2 + i], width=1.5, showlegend=False))
    if grammar:
        traces += _pairs_traces(data, axis=PAIRS_AXIS)
    layout = json.loads(_grid(grammar))
    _pad_flat_axes(layout, traces)
    for axis in (PAIRS_AXIS,) if grammar else ("3", "4"):
        layout[f"xaxis{axis}"]["title"] = {"text": X_AXES[x_axis]}
    layout["title"]["text"] = title or ("waiting for the first logged step..." if not data else "")
    return go.Figure(data=traces, layout=layout, _validate=False)


def _line(
    xs: list,
    ys: list,
    axis: str,
    name: str,
    color: str,
    *,
    width: float,
    dash: str | None = None,
    mode: str = "lines",
    opacity: float | None = None,
    showlegend: bool = True,
    marker: int = 0,
) -> dict:
    """One scatter trace as the dict plotly.js takes, on subplot axes x<axis>/y<axis>."""
    if "markers" not in mode and len(xs) <= SPARSE_POINTS:
        mode, marker = "lines+markers", marker or 5
    trace = {
        "type": "scatter",
        "x": xs,
        "y": ys,
        "name": name,
        "mode": mode,
        "xaxis": f"x{axis}",
        "yaxis": f"y{axis}",
        "line": {"color": color, "width": width},
    }
    if not showlegend:
        trace["showlegend"] = False
    if dash:
        trace["line"]["dash"] = dash
    if opacity is not None:
        trace["opacity"] = opacity
    if marker:
        trace["marker"] = {"size": marker}
    return trace


def _pairs_traces(data: dict, axis: str) -> list[dict]:
    """Minimal-pair accuracy (mean over paradigms, bold) and each field's mean (dotted)."""
    fields = sorted(name for name in data if name.startswith(PAIRS + "/"))
    traces = [_line(*downsample(*data[PAIRS]), axis, "pairs accuracy", "#333333", width=2.5, mode="lines+markers", marker=6)]
    for i, name in enumerate(fields):
        # The palette after the loss colour (PALETTE[0]), from the fifth on, wrapping past it.
        color = PALETTE[1 + (4 + i) % (len(PALETTE) - 1)]
        traces.append(
            _line(
                *downsample(*data[name]),
                axis,
                name[len(PAIRS) + 1 :],
                color,
                width=1.2,
                dash="dot",
                mode="lines+markers",
                marker=4,
            )
        )
    return traces


def flat_range(values: Sequence[float]) -> list[float] | None:
    """[low, high] around values that are all equal (one point, a constant), else None (autorange)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite or min(finite) != max(finite):
        return None
    pad = abs(finite[0]) * FLAT_PAD or 1.0
    return [finite[0] - pad, finite[0] + pad]


def _pad_flat_axes(layout: dict, traces: list[dict]) -> None:
    """Give every axis whose traces hold one distinct value an explicit range around it."""
    values: dict[str, list] = defaultdict(list)
    for trace in traces:
        values["xaxis" + trace["xaxis"][1:]] += list(trace["x"])
        values["yaxis" + trace["yaxis"][1:]] += list(trace["y"])
    for axis, vals in values.items():
        if (low_high := flat_range(vals)) is not None and axis in layout and "range" not in layout[axis]:
            layout[axis]["range"] = low_high


@functools.lru_cache(maxsize=2)
def _grid(grammar: bool) -> str:
    """The dashboard's layout without data, as JSON (a string, so no caller can change the memo):
    2 x 2 panels, plus the pairs row spanning both columns with a dashed chance line at 50 %."""
    fig = make_subplots(
        rows=3 if grammar else 2,
        cols=2,
        specs=[[{}, {}], [{}, {}]] + ([[{"colspan": 2}, None]] if grammar else []),
        subplot_titles=[t for _, t in PANELS] + ([PAIRS_TITLE] if grammar else []),
        horizontal_spacing=0.08,
        vertical_spacing=0.1 if grammar else 0.14,
    )
    _layout(fig, " ", height=820 if grammar else 560)
    if grammar:
        ref = {"xref": f"x{PAIRS_AXIS} domain", "yref": f"y{PAIRS_AXIS}"}
        fig.add_shape(type="line", x0=0, x1=1, y0=0.5, y1=0.5, line=dict(color="#999999", width=1, dash="dash"), **ref)
        fig.add_annotation(text="chance", x=1, y=0.5, xanchor="right", yanchor="top", showarrow=False, **ref)
        fig.layout[f"yaxis{PAIRS_AXIS}"].update(range=[0, 1.03], tickformat=".0%")
    return fig.layout.to_json()


def overlay_figure(
    runs: dict[str, list[dict] | Mapping[str, Mapping]], metric: str = "loss", x_axis: str = "step", smoothing: float = 0.0
) -> go.Figure:
    """One metric of several runs on one set of axes (the Compare tab); each run's rows, or its
    columns per metric (`History.metric_columns`)."""
    fig = go.Figure()
    for i, (name, rows) in enumerate(runs.items()):
        data = columns_series(rows, x_axis) if isinstance(rows, Mapping) else series(rows, x_axis)
        xs, ys = data.get(metric, ([], []))
        xs, ys = downsample(xs, ys)
        if smoothing:
            ys = smooth(ys, smoothing)
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                name=name,
                mode="lines+markers" if len(xs) <= SPARSE_POINTS else "lines",
                marker=dict(size=5),
                line=dict(color=PALETTE[i % len(PALETTE)], width=2),
            )
        )
    fig.update_xaxes(title_text=X_AXES[x_axis], range=flat_range([x for t in fig.data for x in t.x]))
    fig.update_yaxes(title_text=metric, range=flat_range([y for t in fig.data for y in t.y]))
    _layout(fig, "" if runs else "select runs to compare", height=420)
    return fig


def babylm_figure(entries: Sequence[dict]) -> go.Figure:
    """BabyLM scores (the Compare scoreboard): one panel per task, each run a line through its
    evaluations against words seen, or against step when any evaluation's words are unknown.

    `entries` are dicts with run, revision, step, words and scores ({task label: value}).
    """
    tasks = list(dict.fromkeys(label for e in entries for label in e["scores"]))
    if not tasks:
        fig = go.Figure()
        _layout(fig, "no BabyLM evaluations yet: run the babylm suite (Evaluate tab)", height=240)
        return fig
    by_words = all(e.get("words") is not None for e in entries)
    x_key, x_title = ("words", "words seen") if by_words else ("step", "step")
    cols = min(3, len(tasks))
    rows = math.ceil(len(tasks) / cols)
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=tasks, horizontal_spacing=0.07, vertical_spacing=min(0.12, 0.5 / rows)
    )
    runs = list(dict.fromkeys(e["run"] for e in entries))
    for r, run in enumerate(runs):
        points = sorted((e for e in entries if e["run"] == run), key=lambda e: (e[x_key] is None, e[x_key] or 0))
        for t, task in enumerate(tasks):
            shown = [e for e in points if e["scores"].get(task) is not None and e[x_key] is not None]
            fig.add_trace(
                go.Scatter(
                    x=[e[x_key] for e in shown],
                    y=[e["scores"][task] for e in shown],
                    name=run,
                    legendgroup=run,
                    showlegend=t == 0,
                    mode="lines+markers",
                    text=[e.get("revision") or "main" for e in shown],
                    hovertemplate=f"{run} %{{text}}<br>{x_title} %{{x:,}}<br>{task} %{{y:.3f}}<extra></extra>",
                    line=dict(color=PALETTE[r % len(PALETTE)], width=2),
                ),
                row=t // cols + 1,
                col=t % cols + 1,
            )
    fig.update_xaxes(title_text=x_title, type="log" if by_words and _spans_decade(entries) else "linear")
    _layout(fig, "", height=max(320, 280 * rows))
    return fig


def _spans_decade(entries: Sequence[dict]) -> bool:
    # The challenge's checkpoints go 1M, 2M ... 1000M: a log axis keeps the early ones apart.
    words = [e["words"] for e in entries if e.get("words")]
    return bool(words) and max(words) >= 10 * min(words)


def _layout(fig: go.Figure, title: str, height: int) -> None:
    fig.update_layout(
        title=dict(text=title, x=0.02, font=dict(size=14)),
        height=height,
        margin=dict(l=50, r=20, t=50, b=40),
        template="plotly_white",
        legend=dict(orientation="h", y=-0.12),
        uirevision="keep",
    )  # keep zoom across ticks
