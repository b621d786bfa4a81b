"""The sweep results plot: the metric against each swept parameter, one panel per parameter, the
best trial highlighted; as a Plotly figure (the studio) or a self-contained HTML file (the CLI).

Input is `core.sweep.runs.results()`; pure functions over it. Must not import gradio, torch or studio.
"""

from __future__ import annotations

import os
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

TRIAL_COLOR, BEST_COLOR = "#4C78A8", "#E45756"


def figure(result: dict) -> go.Figure:
    """One panel per parameter: each scored trial a point (hover: run name), the best a red star."""
    keys = result["params"] or ["(none)"]
    scored = [r for r in result["rows"] if r["value"] is not None]
    fig = make_subplots(
        rows=1, cols=len(keys), shared_yaxes=True, subplot_titles=keys, horizontal_spacing=0.04 if len(keys) > 3 else 0.08
    )
    for col, key in enumerate(keys, start=1):
        for best in (False, True):
            points = [r for r in scored if r["best"] == best]
            fig.add_trace(
                go.Scatter(
                    x=[_x(r["params"].get(key)) for r in points],
                    y=[r["value"] for r in points],
                    text=[r["run"] for r in points],
                    mode="markers",
                    name="best trial" if best else "trials",
                    legendgroup="best" if best else "trials",
                    showlegend=col == 1,
                    hovertemplate="%{text}<br>" + key + "=%{x}<br>" + result["metric"] + "=%{y:.4g}<extra></extra>",
                    marker=dict(
                        color=BEST_COLOR if best else TRIAL_COLOR,
                        size=16 if best else 10,
                        symbol="star" if best else "circle",
                        line=dict(width=1, color="white"),
                    ),
                ),
                row=1,
                col=col,
            )
        if _log_axis([r["params"].get(key) for r in scored]):
            fig.update_xaxes(type="log", row=1, col=col)
    fig.update_yaxes(title_text=f"{result['metric']} ({result['mode']})", row=1, col=1)
    best = f"best: {result['best']}" if result["best"] else f"no trial has logged {result['metric']} yet"
    fig.update_layout(
        title=dict(text=f"sweep {result['name']}: {best}", x=0.02, font=dict(size=14)),
        height=380,
        margin=dict(l=60, r=20, t=70, b=40),
        template="plotly_white",
        legend=dict(orientation="h", y=-0.15),
    )
    return fig


def write_html(result: dict, folder: str | os.PathLike, filename: str = "results.html") -> Path:
    """Write the figure as one HTML file that opens without a network (plotly.js inlined)."""
    path = Path(folder) / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    figure(result).write_html(tmp, include_plotlyjs=True, full_html=True)
    os.replace(tmp, path)
    return path


def _x(value):
    # Numbers stay numbers (a real axis); text and booleans become categories.
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


def _log_axis(values: list) -> bool:
    """A log axis when every value is a positive number and they span at least 10x (learning rates)."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers or len(numbers) != len(values) or min(numbers) <= 0:
        return False
    return max(numbers) / min(numbers) >= 10
