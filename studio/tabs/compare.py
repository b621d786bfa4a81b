"""The Compare tab: the table of training runs, overlaid curves, config differences and evals.

Also deletes and renames finished runs (asking first). Everything is read from the history and the
runs' saved configs at call time; no state is held here.
"""

from __future__ import annotations

import functools
import math
import time
from pathlib import Path
from typing import NamedTuple

import gradio as gr
import pandas as pd

from core import jobs
from core.config import from_dict
from core.config.diff import config_diff as configs_differing
from core.errors import ConfigError, UserError
from core.history import TRAINING, History, Run, Status
from core.model import build as models
from core.tokenizer import vocab_size_of
from studio.context import StudioContext
from studio.panels import babylm_board
from studio.panels import sweep as sweep_panel
from studio.plots import MAX_POINTS, X_AXES, overlay_figure
from studio.shared import refresh_on_open

KINDS = TRAINING  # the runs that have curves to compare
ALL = "all"
METRICS = ("loss", "eval_loss", "pairs_acc", "lr", "grad_norm", "tokens_per_s")
RUN_COLUMNS = ["name", "status", "model", "params", "steps", "tokens seen", "best eval loss", "duration"]
EVAL_COLUMNS = ["run", "source", "metric", "value", "step"]
DELETE = "Delete run"


class CompareComponents(NamedTuple):
    status_filter: gr.Dropdown
    name_filter: gr.Textbox
    refresh: gr.Button
    runs: gr.Dataframe
    selected: gr.Dropdown
    metric: gr.Dropdown
    x_axis: gr.Radio
    smoothing: gr.Slider
    plot: gr.Plot
    diff: gr.Dataframe
    evals: gr.Dataframe
    manage_run: gr.Dropdown
    new_name: gr.Textbox
    rename_button: gr.Button
    delete_button: gr.Button
    manage_status: gr.Markdown


# ---------------------------------------------------------------------------------------------
# The runs table
# ---------------------------------------------------------------------------------------------


def training_runs(ctx: StudioContext, status: str = ALL, contains: str = "") -> list[dict]:
    """Training runs (dead ones marked lost first), newest first, filtered by status and name."""
    with ctx.history() as h:
        runs = [r for r in jobs.refresh_all(h) if r.kind in KINDS]
    if status and status != ALL:
        runs = [r for r in runs if r.status == status]
    needle = (contains or "").strip().lower()
    return [r for r in runs if needle in r.name.lower()]


def run_row(ctx: StudioContext, h: History, run: Run, now: float | None = None) -> dict:
    """One line of the runs table for `run`."""
    cfg = _config(run)
    params = "?"
    if cfg is not None:
        vocab = cfg.model.vocab_size or _run_vocab(ctx, run, cfg)
        # Without a known vocabulary the count is at the nominal one: marked as approximate.
        params = ("" if vocab else "~") + models.human(models.count_parameters(cfg.model, vocab))
    best = min((v for _, v in h.metric_series(run.id, "eval_loss") if v is not None), default=None)
    tokens = _tokens_seen(h, run)
    return {
        "name": run.name,
        "status": run.status,
        "model": f"{cfg.model.type} {cfg.model.name}".strip() if cfg else "?",
        "params": params,
        "steps": f"{run.step or 0}/{run.total_steps or '?'}",
        "tokens seen": models.human(tokens) if tokens is not None else "",
        "best eval loss": f"{best:.4f}" if best is not None else "",
        "duration": _duration(run, now),
    }


def runs_table(ctx: StudioContext, status: str = ALL, contains: str = "") -> pd.DataFrame:
    """The runs table (RUN_COLUMNS) for the filters."""
    runs = training_runs(ctx, status, contains)
    with ctx.history() as h:
        rows = [run_row(ctx, h, r) for r in runs]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def refresh_view(ctx: StudioContext, status: str, contains: str, selected: list[str] | None, managed: str | None):
    """(runs table, selection dropdown, manage dropdown) after a filter change, refresh or edit."""
    table = runs_table(ctx, status, contains)
    with ctx.history() as h:
        names = [r.name for r in h.list_runs() if r.kind in KINDS]
    shown = list(table["name"])
    keep = [n for n in (selected or []) if n in names]
    choices = shown + [n for n in keep if n not in shown]  # never drop a selected run from view
    return (table, gr.update(choices=choices, value=keep), gr.update(choices=names, value=managed if managed in names else None))


# ---------------------------------------------------------------------------------------------
# Comparing selected runs
# ---------------------------------------------------------------------------------------------


def overlay(ctx: StudioContext, selected: list[str] | None, metric: str, x_axis: str, smoothing: float):
    """One metric of the selected runs on shared axes."""
    # Only the one metric, as float columns, min/max-downsampled by SQLite to what the plot draws:
    # a 100k-step run is 600k rows, most of them other metrics.
    with ctx.history() as h:
        rows = {name: h.metric_columns(name, names=[metric or "loss"], buckets=MAX_POINTS // 2) for name in (selected or [])}
    return overlay_figure(rows, metric=metric or "loss", x_axis=x_axis or "step", smoothing=smoothing or 0.0)


def config_diff(ctx: StudioContext, selected: list[str] | None) -> pd.DataFrame:
    """Only the config keys whose values differ between the selected runs (key, one column per run)."""
    names = list(dict.fromkeys(selected or []))
    with ctx.history() as h:
        configs = {n: getattr(h.get_run(n), "config", None) for n in names}
    rows = configs_differing(configs, missing="(not set)") if len(names) > 1 else []
    return pd.DataFrame(rows, columns=["key", *names])


def eval_table(ctx: StudioContext, selected: list[str] | None) -> pd.DataFrame:
    """Last eval_loss / eval_perplexity of each run from its metrics, then its `evals` rows."""
    rows = []
    with ctx.history() as h:
        for name in selected or []:
            if h.get_run(name) is None:
                continue
            for metric in ("eval_loss", "eval_perplexity"):
                series = h.metric_series(name, metric)
                if series:
                    step, value = series[-1]
                    rows.append([name, "training", metric, _round(value), step])
            for e in h.evals(name):
                rows.append([name, e["suite"], e["name"], _round(e["value"]), e["step"]])
    return pd.DataFrame(rows, columns=EVAL_COLUMNS)


# ---------------------------------------------------------------------------------------------
# Delete and rename (final runs only)
# ---------------------------------------------------------------------------------------------


def reset_delete() -> tuple[dict, str]:
    """Disarm the delete button and clear the message (the user chose another run)."""
    return gr.update(value=DELETE, variant="secondary"), ""


def confirm_label(name: str) -> str:
    return f"Really delete {name}?"


def delete_run(ctx: StudioContext, name: str | None, button: str) -> tuple[str, dict]:
    """Two steps: the first click arms the button ("Really delete X?"), the second deletes X:
    its history rows and its folder. Returns (message, button update)."""
    reset = gr.update(value=DELETE, variant="secondary")
    if not name:
        return "Choose a run first.", reset
    try:
        with ctx.history() as h:
            if button != confirm_label(name):
                run = jobs.refresh(h, name)
                return (
                    f"Click **{confirm_label(name)}** to delete run **{name}**, its metrics and its folder "
                    f"`{run.run_dir}`; choose another run to cancel.",
                    gr.update(value=confirm_label(name), variant="stop"),
                )
            folder = jobs.delete(h, name)
    except UserError as err:
        return f"⚠️ {err}", reset
    return f"🗑️ Deleted run **{name}**" + (f" and `{folder}`." if folder else "."), reset


def rename_run(ctx: StudioContext, old: str | None, new: str) -> str:
    """Rename a final run and move its folder beside the old one; refuse taken names. A message."""
    if not old:
        return "Choose a run first."
    try:
        with ctx.history() as h:
            jobs.rename(h, old, (new or "").strip())
    except UserError as err:
        return f"⚠️ {err}"
    return f"✅ Renamed **{old}** to **{new.strip()}**."


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _config(run: Run):
    try:
        return from_dict(run.config or {})
    except ConfigError:
        return None


def _run_vocab(ctx: StudioContext, run: Run, cfg) -> int | None:
    """The vocabulary of the run's own saved tokenizer if it has one, else of the one its config names."""
    run_dir = run.run_dir
    sources = [run_dir] if run_dir and (Path(run_dir) / "tokenizer.json").is_file() else []
    sources += [cfg.data.tokenizer_path] if cfg.data.tokenizer_path else []
    for source in sources:
        try:
            return vocab_size_of(source, ctx.workspace)
        except UserError:
            continue
    return None


def _tokens_seen(h: History, run: Run) -> int | None:
    return h.last_counts(run.id)[0]


def _duration(run: Run, now: float | None = None) -> str:
    if not run.started:
        return ""
    end = run.ended or (now or time.time())
    seconds = max(0, int(end - run.started))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _round(value):
    return None if value is None or not math.isfinite(value) else round(value, 4)


# ---------------------------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------------------------


def _build_controls(ctx: StudioContext, names: list[str]) -> dict:
    c: dict = {}
    with gr.Row():
        c["status_filter"] = gr.Dropdown([ALL, *Status], value=ALL, label="status", elem_id="compare-status", scale=1)
        c["name_filter"] = gr.Textbox(label="name contains", elem_id="compare-name-filter", scale=2)
        c["refresh"] = gr.Button("Refresh", size="sm", elem_id="compare-refresh", scale=0)
    c["runs"] = gr.Dataframe(
        runs_table(ctx), headers=RUN_COLUMNS, interactive=False, label="training runs", elem_id="compare-runs", max_height=360
    )
    with gr.Row():
        c["selected"] = gr.Dropdown(
            names, value=[], multiselect=True, allow_custom_value=True, label="runs to compare", elem_id="compare-select", scale=3
        )
        c["metric"] = gr.Dropdown(list(METRICS), value="loss", label="metric", elem_id="compare-metric", scale=1)
        c["x_axis"] = gr.Radio(list(X_AXES), value="step", label="x axis", elem_id="compare-x-axis", scale=1)
        c["smoothing"] = gr.Slider(0.0, 0.99, value=0.6, step=0.01, label="smoothing", elem_id="compare-smoothing", scale=1)
    return c


def _build_outputs(ctx: StudioContext, names: list[str]) -> dict:
    o: dict = {"plot": gr.Plot(overlay_figure({}), label="curves", elem_id="compare-plot")}
    with gr.Row():
        o["diff"] = gr.Dataframe(
            pd.DataFrame(columns=["key"]), interactive=False, wrap=True, label="config differences", elem_id="compare-diff"
        )
        o["evals"] = gr.Dataframe(
            pd.DataFrame(columns=EVAL_COLUMNS), interactive=False, label="evaluations", elem_id="compare-evals"
        )
    with gr.Accordion("Rename or delete a run", open=False, elem_id="compare-manage"):
        with gr.Row():
            o["manage_run"] = gr.Dropdown(names, value=None, allow_custom_value=True, label="run", elem_id="compare-manage-run")
            o["new_name"] = gr.Textbox(label="new name", elem_id="compare-new-name")
        with gr.Row():
            o["rename_button"] = gr.Button("Rename", elem_id="compare-rename")
            o["delete_button"] = gr.Button(DELETE, elem_id="compare-delete")
        o["manage_status"] = gr.Markdown(elem_id="compare-manage-status")
    return o


def build(ctx: StudioContext) -> CompareComponents:
    """The Compare tab's components and events; call inside a `gr.Tab`."""
    names = [r.name for r in training_runs(ctx)]
    c = _build_controls(ctx, names)
    o = _build_outputs(ctx, names)
    sweep_panel.build_results(ctx, c["selected"])  # choosing a sweep selects its runs
    babylm_board.build_scoreboard(ctx, c["selected"])  # follows the selection
    filters = [c["status_filter"], c["name_filter"], c["selected"], o["manage_run"]]
    view = [c["runs"], c["selected"], o["manage_run"]]
    refresh = functools.partial(refresh_view, ctx)
    gr.on([c["refresh"].click, c["status_filter"].change, c["name_filter"].change], refresh, filters, view, api_name="runs_table")
    curve_inputs = [c["selected"], c["metric"], c["x_axis"], c["smoothing"]]
    gr.on(
        [x.change for x in curve_inputs],
        functools.partial(overlay, ctx),
        curve_inputs,
        o["plot"],
        show_progress="hidden",
        api_name="compare_curves",
    )
    c["selected"].change(
        functools.partial(config_diff, ctx), c["selected"], o["diff"], show_progress="hidden", api_name="compare_configs"
    )
    c["selected"].change(
        functools.partial(eval_table, ctx), c["selected"], o["evals"], show_progress="hidden", api_name="compare_evals"
    )
    o["manage_run"].input(
        reset_delete, None, [o["delete_button"], o["manage_status"]], show_progress="hidden", api_visibility="private"
    )
    o["delete_button"].click(
        functools.partial(delete_run, ctx),
        [o["manage_run"], o["delete_button"]],
        [o["manage_status"], o["delete_button"]],
        api_name="delete_run",
    ).then(refresh, filters, view, api_visibility="private")
    o["rename_button"].click(
        functools.partial(rename_run, ctx), [o["manage_run"], o["new_name"]], o["manage_status"], api_name="rename_run"
    ).then(refresh, filters, view, api_visibility="private")
    return CompareComponents(**c, **o)


def wire_load(demo: gr.Blocks, ctx: StudioContext, c: CompareComponents, tab: gr.Tab | None = None) -> None:
    """On page load and on opening the tab, re-read the runs (the table, the selection and the manage choices)."""
    filters = [c.status_filter, c.name_filter, c.selected, c.manage_run]
    refresh_on_open(demo, tab, functools.partial(refresh_view, ctx), filters, [c.runs, c.selected, c.manage_run])
