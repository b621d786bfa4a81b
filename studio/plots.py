"""Pure functions: metric rows -> Plotly figures. No Gradio, no database, no state.

Rows are what `History.metrics_since` returns (dicts with step, name, value, time, tokens,
words). Long series are downsampled so a figure builds in a few milliseconds.
"""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.train.probes import PAIRS_METRIC

MAX_POINTS = 2000  # per trace; a 20k-point figure took ~90 ms to build (STACK.md)
X_AXES = {"step": "step", "tokens": "tokens seen", "words": "words seen", "time": "minutes"}
PALETTE = ("#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D")
# The training dashboard: (metric names, panel title), one panel each.
PANELS = ((("loss", "eval_loss", "ce_loss", "kl_loss"), "loss"), (("lr",), "learning rate"),
          (("grad_norm",), "gradient norm"), (("tokens_per_s",), "tokens / s"))
# Minimal-pair accuracy logged during training (core.train.probes), with one series per field.
PAIRS, PAIRS_TITLE = PAIRS_METRIC, "grammar: minimal-pair accuracy (BLiMP-style)"
# A distillation run's two loss terms, drawn dashed in the loss panel: (legend, colour).
LOSS_PARTS = {"ce_loss": ("CE (labels)", PALETTE[3]), "kl_loss": ("KL (teachers)", PALETTE[5])}


def downsample(xs: Sequence, ys: Sequence, limit: int = MAX_POINTS) -> tuple[list, list]:
    """Every k-th point (always keeping the last) so at most `limit` remain."""
    n = len(xs)
    if n <= limit:
        return list(xs), list(ys)
    stride = math.ceil(n / limit)
    idx = list(range(0, n, stride))
    if idx[-1] != n - 1:
        idx.append(n - 1)
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
        out.append(last / (1 - weight ** num))
    return out


def series(rows: Iterable[dict], x_axis: str = "step") -> dict[str, tuple[list, list]]:
    """Group rows by metric name into (x, y) lists; `time` becomes minutes since the first row."""
    grouped: dict[str, tuple[list, list]] = defaultdict(lambda: ([], []))
    rows = list(rows)
    t0 = min((r["time"] for r in rows if r.get("time") is not None), default=0.0)
    for r in rows:
        if r.get("value") is None:
            continue
        x = {"step": r["step"], "tokens": r.get("tokens"), "words": r.get("words"),
             "time": (r["time"] - t0) / 60.0 if r.get("time") is not None else None}[x_axis]
        if x is None:
            continue
        xs, ys = grouped[r["name"]]
        xs.append(x)
        ys.append(r["value"])
    return dict(grouped)


def training_figure(rows: Iterable[dict], x_axis: str = "step", smoothing: float = 0.6,
                    title: str = "") -> go.Figure:
    """The live dashboard: loss (raw, smoothed, eval), learning rate, gradient norm, throughput, and
    minimal-pair accuracy across the bottom when the run scores pairs (`eval.pairs_every`)."""
    data = series(rows, x_axis)
    grammar = PAIRS in data
    fig = make_subplots(rows=3 if grammar else 2, cols=2,
                        specs=[[{}, {}], [{}, {}]] + ([[{"colspan": 2}, None]] if grammar else []),
                        subplot_titles=[t for _, t in PANELS] + ([PAIRS_TITLE] if grammar else []),
                        horizontal_spacing=0.08, vertical_spacing=0.1 if grammar else 0.14)
    for i, (names, _) in enumerate(PANELS):
        r, c = i // 2 + 1, i % 2 + 1
        for name in names:
            if name not in data:
                continue
            xs, ys = downsample(*data[name])
            if name == "loss":
                fig.add_trace(go.Scatter(x=xs, y=ys, name="loss", mode="lines", opacity=0.35,
                                         line=dict(color=PALETTE[0], width=1)), row=r, col=c)
                fig.add_trace(go.Scatter(x=xs, y=smooth(ys, smoothing), name="loss (smoothed)",
                                         mode="lines", line=dict(color=PALETTE[0], width=2.5)), row=r, col=c)
            elif name == "eval_loss":
                fig.add_trace(go.Scatter(x=xs, y=ys, name="eval loss", mode="lines+markers",
                                         line=dict(color=PALETTE[1], width=2)), row=r, col=c)
            elif name in LOSS_PARTS:
                label, color = LOSS_PARTS[name]
                fig.add_trace(go.Scatter(x=xs, y=smooth(ys, smoothing), name=label, mode="lines",
                                         line=dict(color=color, width=1.5, dash="dash")), row=r, col=c)
            else:
                fig.add_trace(go.Scatter(x=xs, y=ys, name=name, mode="lines", showlegend=False,
                                         line=dict(color=PALETTE[2 + i], width=1.5)), row=r, col=c)
    if grammar:
        _add_pairs(fig, data, row=3)
    fig.update_xaxes(title_text=X_AXES[x_axis], row=3 if grammar else 2)
    _layout(fig, title or ("waiting for the first logged step..." if not data else ""), height=820 if grammar else 560)
    return fig


def _add_pairs(fig: go.Figure, data: dict, row: int) -> None:
    """Minimal-pair accuracy (mean over paradigms, bold) and each field's mean, over chance (0.5)."""
    fields = sorted(name for name in data if name.startswith(PAIRS + "/"))
    for i, name in enumerate([PAIRS, *fields]):
        xs, ys = downsample(*data[name])
        main = name == PAIRS
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name="pairs accuracy" if main else name[len(PAIRS) + 1:],
                                 line=dict(color=PALETTE[(4 + i) % len(PALETTE)] if not main else "#333333",
                                           width=2.5 if main else 1.2, dash=None if main else "dot"),
                                 marker=dict(size=6 if main else 4)), row=row, col=1)
    fig.add_hline(y=0.5, line=dict(color="#999999", width=1, dash="dash"), row=row, col=1,
                  annotation_text="chance", annotation_position="bottom right")
    fig.update_yaxes(range=[0, 1.03], tickformat=".0%", row=row, col=1)


def overlay_figure(runs: dict[str, list[dict]], metric: str = "loss", x_axis: str = "step",
                   smoothing: float = 0.0) -> go.Figure:
    """One metric of several runs on one set of axes (the Compare tab)."""
    fig = go.Figure()
    for i, (name, rows) in enumerate(runs.items()):
        xs, ys = series(rows, x_axis).get(metric, ([], []))
        xs, ys = downsample(xs, ys)
        if smoothing:
            ys = smooth(ys, smoothing)
        fig.add_trace(go.Scatter(x=xs, y=ys, name=name, mode="lines",
                                 line=dict(color=PALETTE[i % len(PALETTE)], width=2)))
    fig.update_xaxes(title_text=X_AXES[x_axis])
    fig.update_yaxes(title_text=metric)
    _layout(fig, "" if runs else "select runs to compare", height=420)
    return fig


def histogram_figure(edges: Sequence[float], counts: Sequence[int], xlabel: str, title: str = "") -> go.Figure:
    """A histogram from precomputed bins (`edges` has one more entry than `counts`, or labels)."""
    if len(edges) == len(counts) + 1:
        centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    else:
        centers = list(edges)
    fig = go.Figure(go.Bar(x=centers, y=list(counts), marker_color=PALETTE[0]))
    fig.update_xaxes(title_text=xlabel)
    fig.update_yaxes(title_text="count")
    _layout(fig, title, height=320)
    return fig


def _layout(fig: go.Figure, title: str, height: int) -> None:
    fig.update_layout(title=dict(text=title, x=0.02, font=dict(size=14)), height=height,
                      margin=dict(l=50, r=20, t=50, b=40), template="plotly_white",
                      legend=dict(orientation="h", y=-0.12), uirevision="keep")  # keep zoom across ticks
