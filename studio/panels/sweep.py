"""Sweeps in the studio: the Train tab's "Sweep" accordion (the current form as the base, a small
grid/random editor, trials) and the Compare tab's "Sweep" picker (its runs selected, results table,
the metric against each parameter with the best run highlighted).

Handlers are plain module-level functions over `core.sweep.spec` / `core.sweep.runs`; no state here.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import gradio as gr
import pandas as pd

from core import config as config_mod
from core import jobs, yamlio
from core.backends import choice as where_mod
from core.bounds import MAX_SEED, MAX_TRIALS
from core.config import presets
from core.config.resolve import data_checker
from core.errors import UserError
from core.history.runs import ACTIVE, TRAINING
from core.sweep import plot as sweep_plot
from core.sweep import runs as sweep_runs
from core.sweep import spec as sweep
from studio import forms, run_on
from studio.context import StudioContext
from studio.shared import with_params

SPACE_EXAMPLE = "training.lr: [1e-4, 3e-4, 1e-3]\ntraining.batch_size: [8, 16]"
SPACE_INFO = (
    "one `section.key: ...` per line: a list is a grid ([1e-4, 3e-4]), a distribution is "
    "sampled ({log_uniform: [1e-5, 1e-2]}, {uniform: [0, 0.1]}, {int_uniform: [1, 4]}, {choice: [2, 4]})"
)
METRICS = ("eval_loss", "loss", "eval_perplexity")


class SweepLauncher(NamedTuple):
    name: gr.Textbox
    space: gr.Textbox
    trials: gr.Number
    seed: gr.Number
    metric: gr.Dropdown
    mode: gr.Radio
    start: gr.Button
    queued: gr.Markdown
    where: run_on.RunOn


class SweepResults(NamedTuple):
    sweep: gr.Dropdown
    table: gr.Dataframe
    plot: gr.Plot
    summary: gr.Markdown
    timer: gr.Timer


# ---------------------------------------------------------------------------------------------
# Starting a sweep from the Train tab
# ---------------------------------------------------------------------------------------------


def parse_space(text: str) -> tuple[dict, dict]:
    """The editor's lines -> (grid, random): a list is grid values, a mapping a distribution."""
    raw = yamlio.loads(text or "", "sweep space") or {}  # a YamlError (a UserError) names the line and the fix
    if not isinstance(raw, dict):
        raise UserError("sweep space: write one `section.key: [v1, v2]` per line, e.g. training.lr: [1e-4, 3e-4]")
    grid = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    return grid, {k: v for k, v in raw.items() if isinstance(v, dict)}


def build_spec(ctx: StudioContext, name, space, trials, seed, metric, mode, preset, corpus, tokenizer, *values) -> dict:
    """The sweep spec the form describes: the preset + data + changed fields as fixed overrides."""
    base = config_mod.load(presets.find(preset, ctx.workspace))
    overrides = [
        f"data.train_path={corpus or ''}",
        f"data.tokenizer_path={tokenizer or ''}",
        *forms.overrides_from(base, list(values)[: len(forms.FORM_PATHS)]),
    ]
    grid, random_space = parse_space(space)
    spec = {
        "name": (name or "").strip() or f"{preset}-sweep",
        "base": preset,
        "overrides": overrides,
        "grid": grid or None,
        "random": random_space or None,
        "seed": _whole(seed, 0),
        "metric": metric or "eval_loss",
        "mode": mode or "min",
    }
    if random_space:
        spec["trials"] = _whole(trials, 1)
    return {k: v for k, v in spec.items() if v is not None}


def start_sweep(ctx: StudioContext, name, space, trials, seed, metric, mode, preset, corpus, tokenizer, *values) -> str:
    """Validate the whole sweep (every problem shown), then queue its trials; Markdown of what started.
    `values`: the training fields, then the "Run on" fields (target, nodes, GPUs, time, max-parallel)."""
    try:
        spec = build_spec(ctx, name, space, trials, seed, metric, mode, preset, corpus, tokenizer, *values)
        where = run_on.where_of(*values[len(forms.FORM_PATHS) :])
        backend = run_on.choose(ctx, where)  # a bad choice: its UserError, nothing started
        with ctx.history() as h:
            spec["name"] = sweep_runs.free_name(h, spec["name"])  # as runs: a taken name gets a suffix
            plan = sweep.plan(spec, ctx.workspace, checks=[data_checker(ctx.workspace, require=True)])
            # The spec is saved as sweeps/<name>/sweep.yaml: the CLI command that starts the same trials.
            spec_file = sweep_runs.sweep_dir(ctx.workspace, plan.name) / sweep_runs.SPEC_FILE
            command = jobs.format_command(
                ["babyllama", "sweep", "--config", str(spec_file), "--name", plan.name, *run_on.flags(ctx, where)]
            )
            started = sweep_runs.start(plan, ctx.workspace, h, command=command, backend=backend)
    except UserError as err:
        gr.Warning(str(err).split("\n")[0])
        return f"<pre style='color:#c62828'>{err}</pre>"
    lines = [
        f"**Sweep {plan.name}**: {len(plan.trials)} trial(s) queued, judged by `{plan.metric}` ({plan.mode}). "
        f"Follow them in the run list below, or in Compare → Sweep results.",
        "",
        "| run | " + " | ".join(k.split(".")[-1] for k in plan.trials[0].params) + " |",
        "|---|" + "---|" * len(plan.trials[0].params),
    ]
    lines += [f"| {t['run']} | " + " | ".join(_cell(v) for v in t["params"].values()) + " |" for t in started["trials"]]
    return "\n".join(lines + ["", f"Same as `{command}` (another `--name` runs it again)."])


def _whole(value, default: int) -> int | float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return int(number) if number.is_integer() else value  # a fraction is reported by sweep.plan


# ---------------------------------------------------------------------------------------------
# Results in the Compare tab
# ---------------------------------------------------------------------------------------------


def sweep_choices(ctx: StudioContext) -> list[str]:
    """Every sweep's name, newest first."""
    with ctx.history() as h:
        return [s["name"] for s in sweep_runs.list_sweeps(h)]


def results_table(result: dict) -> pd.DataFrame:
    """One row per trial: best mark, run, status, each swept value, the metric."""
    keys = result["params"]
    columns = ["best", "run", "status", "where", *keys, result["metric"]]
    rows = [
        [
            "★" if r["best"] else "",
            r["run"],
            r["status"],
            where_mod.where_text(r["backend"], r["scheduler_job"], r["scheduler_state"]),
            *(_cell(r["params"].get(k)) for k in keys),
            None if r["value"] is None else round(r["value"], 4),
        ]
        for r in result["rows"]
    ]
    return pd.DataFrame(rows, columns=columns)


def show_sweep(ctx: StudioContext, name: str | None, selected: list[str] | None):
    """(runs-to-compare update, results table, figure): selecting a sweep selects its trials."""
    if not name:
        return gr.update(), pd.DataFrame(columns=["best", "run", "status"]), sweep_plot.figure(_EMPTY)
    try:
        with ctx.history() as h:
            result = sweep_runs.results(h, name)
            runs = [r.name for r in h.list_runs() if r.kind in TRAINING]
    except UserError as err:
        gr.Warning(str(err))
        return gr.update(), pd.DataFrame(columns=["best", "run", "status"]), sweep_plot.figure(_EMPTY)
    trials = [r["run"] for r in result["rows"]]
    choices = runs + [n for n in (selected or []) if n not in runs]
    return gr.update(choices=choices, value=trials), results_table(result), sweep_plot.figure(result)


def poll_sweep(ctx: StudioContext, name: str | None, r: SweepResults) -> dict:
    """Timer tick -> the table, plot, best-so-far line and timer, re-read while any trial is queued
    or running (each trial's scheduler state and newest rows; `sweep_runs.results` refreshes and
    ingests them). No sweep, or one gone: the line clears and the timer stops."""
    idle = {r.summary: "", r.timer: gr.Timer(active=False)}
    if not name:
        return idle
    try:
        with ctx.history() as h:
            result = sweep_runs.results(h, name)
    except UserError:
        return idle
    live = any(row["status"] in ACTIVE for row in result["rows"])
    return {
        r.table: results_table(result),
        r.plot: sweep_plot.figure(result),
        r.summary: best_so_far(result),
        r.timer: gr.Timer(active=live),
    }


def best_so_far(result: dict) -> str:
    """`best so far: **sw-b** eval_loss 2.01 (step 40) · 4 trials: 1 running, 1 pending on SLURM (Resources), 2 finished`."""
    rows = result["rows"]
    best = next((r for r in rows if r["best"]), None)
    live = any(r["status"] in ACTIVE for r in rows)
    if best is None:
        head = f"no {result['metric']} logged yet"
    else:
        at = f" (step {best['value_step']})" if best.get("value_step") is not None else ""
        head = f"{'best so far' if live else 'best'}: **{best['run']}** {result['metric']} {best['value']:.4g}{at}"
    counts: dict[str, int] = {}
    for r in rows:
        state = r.get("scheduler_state") or ""
        label = (
            f"pending on SLURM{state[len('PENDING') :]}"
            if r["status"] == "queued" and state.startswith("PENDING")
            else r["status"]
        )
        counts[label] = counts.get(label, 0) + 1
    return f"{head} · {len(rows)} trials: " + ", ".join(f"{n} {label}" for label, n in counts.items())


_EMPTY = {"name": "", "metric": "eval_loss", "mode": "min", "params": [], "rows": [], "best": None}


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------------------------


def build_launcher(ctx: StudioContext, form: list) -> SweepLauncher:
    """The Train tab's Sweep accordion; `form` = [preset, corpus, tokenizer, *training fields]."""
    with gr.Accordion("Sweep: try several values (grid / random search)", open=False, elem_id="sweep-accordion"):
        with gr.Row():
            name = gr.Textbox(label="sweep name (prefixes each trial's run name)", elem_id="sweep-name", scale=2)
            trials = gr.Number(
                1, precision=0, minimum=1, maximum=MAX_TRIALS, label="random draws per grid point", elem_id="sweep-trials"
            )
            seed = gr.Number(0, precision=0, minimum=0, maximum=MAX_SEED, label="seed", elem_id="sweep-seed")
            metric = gr.Dropdown(
                list(METRICS), value="eval_loss", allow_custom_value=True, label="metric", elem_id="sweep-metric"
            )
            mode = gr.Radio(["min", "max"], value="min", label="best is", elem_id="sweep-mode")
        space = gr.Textbox(
            SPACE_EXAMPLE, lines=4, label="values to try (the form above is the base)", info=SPACE_INFO, elem_id="sweep-space"
        )
        where = run_on.build(ctx, "sweep", sweep=True)
        start = gr.Button("Start sweep", variant="primary", elem_id="sweep-start")
        queued = gr.Markdown(elem_id="sweep-queued")
    names = ["sweep", "space", "trials", "sweep_seed", "metric", "mode", "preset", "corpus", "tokenizer", *forms.api_params()][
        : 6 + len(form)
    ] + run_on.SWEEP_API_NAMES  # gradio_client keywords
    start.click(
        with_params(partial(start_sweep, ctx), names, run_on.OPTIONAL_API_NAMES),
        [name, space, trials, seed, metric, mode, *form, *where.inputs],
        queued,
        api_name="start_sweep",
    )
    return SweepLauncher(name, space, trials, seed, metric, mode, start, queued, where)


def build_results(ctx: StudioContext, selected: gr.Dropdown) -> SweepResults:
    """The Compare tab's Sweep section; choosing a sweep selects its runs in `selected`."""
    with gr.Accordion("Sweep results", open=True, elem_id="sweep-results"):
        choice = gr.Dropdown(sweep_choices(ctx), value=None, allow_custom_value=True, label="sweep", elem_id="compare-sweep")
        table = gr.Dataframe(
            pd.DataFrame(columns=["best", "run", "status"]),
            interactive=False,
            label="trials (★ best)",
            elem_id="compare-sweep-table",
        )
        plot = gr.Plot(label="metric against each parameter", elem_id="compare-sweep-plot")
        summary = gr.Markdown("", elem_id="compare-sweep-best")
        timer = gr.Timer(2.0, active=False)
    choice.focus(lambda: gr.update(choices=sweep_choices(ctx)), None, choice, show_progress="hidden", api_visibility="private")
    results = SweepResults(choice, table, plot, summary, timer)
    poll = partial(poll_sweep, ctx, r=results)
    choice.change(partial(show_sweep, ctx), [choice, selected], [selected, table, plot], api_name="sweep_results").then(
        poll, [choice], [table, plot, summary, timer], show_progress="hidden", api_visibility="private"
    )
    timer.tick(poll, [choice], [table, plot, summary, timer], show_progress="hidden", api_visibility="private")
    return results
