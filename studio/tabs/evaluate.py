"""The Evaluate tab: pick a model and suites, run `babyllama eval` as a background job, then show its
numbers (from the history's `evals` table) and link its self-contained HTML report.

Handlers are plain functions over core.jobs / core.evaluate; nothing is kept between calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

import gradio as gr
import pandas as pd

from core import jobs
from core.errors import UserError
from core.evaluate import ALL_SUITES
from core.evaluate.babylm.finetune.tasks import TASKS as GLUE_TASKS
from core.evaluate.runner import EvalOptions
from studio import job_panel
from studio.context import StudioContext
from studio.job_panel import JobPanel
from studio.panels import export as export_section
from studio.panels import submission as submission_section
from studio.shared import cli_command, model_choices, refresh_on_open

RESULT_COLUMNS = ["suite", "metric", "value", "evaluated"]
# The babylm arithmetic choice, as `--exact` (the default) / `--no-exact` mean it.
EXACT_LABEL = "pipeline arithmetic (official files)"
FAST_PATH_LABEL = "fast (live probes)"
ARITHMETIC = {EXACT_LABEL: True, FAST_PATH_LABEL: False}
# GLUE pooling, as `--pooling first` (the official rule) / `--pooling last` mean it.
POOLING = {"first token (official)": "first", "last token (NOT the official rule)": "last"}
DATA_SUITES = ("babylm", "aoa", "glue")  # the suites that read the BabyLM data folder


@dataclass(frozen=True)
class BabyLMOptions:
    """The BabyLM accordion: the data folder, fast (fast_eval/), temperatures and the arithmetic."""

    data: gr.Dropdown
    fast: gr.Checkbox
    temperatures: gr.Textbox
    arithmetic: gr.Radio

    @property
    def inputs(self) -> list:
        """The four, in `start_eval`'s order."""
        return [self.data, self.fast, self.temperatures, self.arithmetic]


class EvaluateComponents(NamedTuple):
    model: gr.Dropdown
    suites: gr.CheckboxGroup
    num_samples: gr.Number
    babylm_data: gr.Dropdown
    fast: gr.Checkbox
    temperatures: gr.Textbox
    arithmetic: gr.Radio
    glue_tasks: gr.CheckboxGroup
    pooling: gr.Radio
    epochs: gr.Number
    start: gr.Button
    panel: JobPanel
    results: gr.Dataframe
    report: gr.File


def babylm_folders(ctx: StudioContext) -> list[str]:
    """BabyLM data folders found in the workspace: `evaluation_data/` and its full/fast sets."""
    root = ctx.workspace.root / "evaluation_data"
    found = [root, root / "full_eval", root / "fast_eval"]
    return [str(p) for p in found if p.is_dir()]


def eval_args(opts: EvalOptions) -> list[str]:
    """The `babyllama eval` arguments (after the verb) for `opts`: what the job's command shows."""
    args = ["eval", opts.model, "--suite", ",".join(opts.suites)]
    if opts.num_samples:
        args += ["--num-samples", str(opts.num_samples)]
    if any(suite in opts.suites for suite in DATA_SUITES):
        args += ["--babylm-data", opts.babylm_data] if opts.babylm_data else []
    if "babylm" in opts.suites:
        args += ["--fast"] if opts.fast else []
        args += ["--temperatures", opts.temperatures] if opts.temperatures else []
        args += [] if opts.exact else ["--no-exact"]
    if "glue" in opts.suites:
        args += ["--tasks", opts.tasks] if opts.tasks else []
        args += ["--pooling", opts.pooling] if opts.pooling != "first" else []
        args += ["--epochs", str(opts.epochs)] if opts.epochs else []
    return args


def _babylm_folder(ctx: StudioContext, given: str | None) -> str:
    """The BabyLM data folder to score (absolute): the one given, else the workspace's."""
    folder = (given or "").strip() or next(iter(babylm_folders(ctx)), "")
    fix = f"give the official evaluation_data/ folder (or put it at {ctx.workspace.root / 'evaluation_data'})"
    if not folder:
        raise UserError(f"BabyLM data folder: empty; {fix}")
    if not Path(folder).expanduser().is_dir():
        raise UserError(f"BabyLM data folder: no folder at {folder}; {fix}")
    return str(Path(folder).expanduser().resolve())


def _glue_options(suites: tuple, glue_tasks: list[str] | None, pooling: str | None, epochs) -> dict:
    """EvalOptions' glue fields from the form: every task ticked (or none) = all seven (""),
    the pooling label's value, epochs 0 = the recipe's."""
    if "glue" not in suites:
        return {}
    if (pooling or next(iter(POOLING))) not in POOLING:
        raise UserError(f"GLUE pooling: {pooling!r} is not one of {', '.join(map(repr, POOLING))}")
    chosen = [t for t in GLUE_TASKS if t in (glue_tasks or [])]
    if len(chosen) != len(glue_tasks or []):
        raise UserError(f"GLUE tasks: choose from {', '.join(GLUE_TASKS)}")
    return {
        "tasks": "" if len(chosen) in (0, len(GLUE_TASKS)) else ",".join(chosen),
        "pooling": POOLING[pooling or next(iter(POOLING))],
        "epochs": int(epochs or 0),
    }


def start_eval(
    ctx: StudioContext,
    model: str | None,
    suites: list[str] | None,
    num_samples,
    babylm_data: str | None = "",
    fast: bool = False,
    temperatures: str | None = "",
    arithmetic: str | None = EXACT_LABEL,
    glue_tasks: list[str] | None = None,
    pooling: str | None = None,
    epochs=0,
    *,
    c: EvaluateComponents,
) -> dict:
    """Check the options, then start an `eval` job -> the job block.
    `arithmetic` is EXACT_LABEL (`--exact`, the default) or FAST_PATH_LABEL (`--no-exact`);
    `glue_tasks`, `pooling` (a POOLING label) and `epochs` count only with the glue suite."""
    try:
        if not model:
            raise UserError("Model: choose a finished run (train one in the Train tab first)")
        if (arithmetic or EXACT_LABEL) not in ARITHMETIC:
            raise UserError(f"BabyLM arithmetic: {arithmetic!r} is not one of {', '.join(map(repr, ARITHMETIC))}")
        suites = tuple(suites or ())
        with_babylm = "babylm" in suites
        opts = EvalOptions(
            model=model,
            suites=suites,
            num_samples=int(num_samples or 0),
            suites_given=True,
            babylm_data=_babylm_folder(ctx, babylm_data) if set(suites) & set(DATA_SUITES) else "",
            fast=bool(fast) and with_babylm,
            temperatures=(temperatures or "").strip() if with_babylm else "",
            exact=ARITHMETIC[arithmetic or EXACT_LABEL] or not with_babylm,
            **_glue_options(suites, glue_tasks, pooling, epochs),
        )
        opts.check()
        with ctx.history() as h:
            job = h.free_name(f"eval-{model}")
            jobs.start_task("eval", opts.to_dict(), ctx.workspace, h, name=job, command=cli_command(ctx, *eval_args(opts)))
    except UserError as err:
        return job_panel.refused(c.panel, err)
    return job_panel.started(ctx, c.panel, job)


def results_view(ctx: StudioContext, model: str | None, _output: str | None = None) -> tuple:
    """(results table, report file) of the model's newest evaluation."""
    if not model:
        return pd.DataFrame(columns=RESULT_COLUMNS), None
    with ctx.history() as h:
        if h.get_run(model) is None:
            return pd.DataFrame(columns=RESULT_COLUMNS), None
        rows = h.evals(model)
        reports = [a for a in h.artifacts(model, "eval") if (a.get("extra") or {}).get("report")]
    if rows:
        newest = max(r["time"] for r in rows)
        rows = [r for r in rows if newest - r["time"] < 1.0]  # the rows of the last evaluation
    table = pd.DataFrame(
        [
            {
                "suite": r["suite"],
                "metric": r["name"],
                "value": None if r["value"] is None else round(r["value"], 4),
                "evaluated": pd.Timestamp(r["time"], unit="s").strftime("%Y-%m-%d %H:%M"),
            }
            for r in rows
        ],
        columns=RESULT_COLUMNS,
    )
    report = reports[-1]["extra"]["report"] if reports else None
    return table, report if report and Path(report).is_file() else None


def poll_eval(ctx: StudioContext, job: str, model: str | None, c: EvaluateComponents) -> dict:
    """Timer tick -> the job block, and the results and report once the job ends."""
    return job_panel.poll(ctx, c.panel, "eval", job, lambda _made: dict(zip((c.results, c.report), results_view(ctx, model))))


def _build_babylm(ctx: StudioContext) -> BabyLMOptions:
    folders = babylm_folders(ctx)
    with gr.Accordion(
        "BabyLM 2025: data folder (babylm, aoa, glue) and zero-shot options", open=bool(folders), elem_id="eval-babylm"
    ):
        with gr.Row():
            data = gr.Dropdown(
                folders,
                value=folders[0] if folders else None,
                allow_custom_value=True,
                label="BabyLM data folder",
                elem_id="eval-babylm-data",
                scale=3,
                info="the official evaluation_data/ (or its full_eval/, fast_eval/, one task folder)",
            )
            fast = gr.Checkbox(False, label="fast (fast_eval/: the checkpoints' set)", elem_id="eval-babylm-fast", scale=1)
            temperatures = gr.Textbox(
                "",
                label="temperatures",
                placeholder="1.0 (default), 1,1.5,2 or 0.5:2:0.25",
                elem_id="eval-babylm-temperatures",
                scale=1,
            )
        arithmetic = gr.Radio(
            list(ARITHMETIC),
            value=EXACT_LABEL,
            label="arithmetic",
            elem_id="eval-babylm-exact",
            scale=2,
            info="pipeline: its batches of 64 in file order and float32 sums, so near-ties "
            "fall as in its files (--exact); fast: shared prefixes once, "
            "length-sorted batches, float64 sums (--no-exact)",
        )
    data.focus(lambda: gr.update(choices=babylm_folders(ctx)), None, data, show_progress="hidden", api_visibility="private")
    return BabyLMOptions(data, fast, temperatures, arithmetic)


def _build_glue() -> tuple:
    with gr.Accordion("BabyLM fine-tuning (tick glue above): hours on a CPU, minutes on a GPU", open=False, elem_id="eval-glue"):
        with gr.Row():
            tasks = gr.CheckboxGroup(
                list(GLUE_TASKS), value=list(GLUE_TASKS), label="GLUE tasks", elem_id="eval-glue-tasks", scale=3
            )
            pooling = gr.Radio(
                list(POOLING),
                value=next(iter(POOLING)),
                label="pooling",
                elem_id="eval-glue-pooling",
                scale=2,
                info="the hidden state the classifier reads: position 0 (the pipeline's "
                "rule; weak for causal models) or the last real token (recorded as "
                "not official)",
            )
            epochs = gr.Number(
                0, precision=0, minimum=0, label="epochs (0 = the recipe's: 10, WSC 30)", elem_id="eval-glue-epochs", scale=1
            )
    return tasks, pooling, epochs


def build(ctx: StudioContext) -> EvaluateComponents:
    """The Evaluate tab (call inside `with gr.Tab(...)`)."""
    with gr.Row():
        model = gr.Dropdown(
            model_choices(ctx), allow_custom_value=True, label="model (a finished or stopped run)", elem_id="eval-model", scale=2
        )
        suites = gr.CheckboxGroup(
            list(ALL_SUITES),
            value=["ppl", "gen", "cloze"],
            label="suites",
            elem_id="eval-suites",
            info="ppl: perplexity + bits/byte; gen: diversity, repetition, consistency; "
            "cloze; pairs: BLiMP minimal pairs (<workspace>/blimp/); "
            "babylm: the official BabyLM 2025 zero-shot tasks; speed; aoa: age of "
            "acquisition over the run's chck_* checkpoints; glue: fine-tuning on 7 "
            "(Super)GLUE tasks (aoa and glue read the BabyLM data folder)",
            scale=3,
        )
        num_samples = gr.Number(100, precision=0, minimum=0, label="samples per suite (0 = all)", scale=1)
    b = _build_babylm(ctx)
    glue = _build_glue()
    start = gr.Button("Evaluate", variant="primary", elem_id="eval-start")
    with gr.Row():
        results = gr.Dataframe(headers=RESULT_COLUMNS, label="results", elem_id="eval-results", scale=3)
        with gr.Column(scale=2):
            report = gr.File(label="report (self-contained HTML)", elem_id="eval-report")
            panel = job_panel.job_panel("eval", log_lines=10, log_label="log (tail)")
    export_section.build(ctx)  # its own accordion, handlers and timer
    submission_section.build(ctx)  # the BabyLM submission accordion

    model.focus(lambda: gr.update(choices=model_choices(ctx)), None, model, show_progress="hidden", api_visibility="private")
    model.change(partial(results_view, ctx), model, [results, report], api_name="eval_results")
    c = EvaluateComponents(
        model, suites, num_samples, b.data, b.fast, b.temperatures, b.arithmetic, *glue, start, panel, results, report
    )
    start.click(partial(start_eval, ctx, c=c), [model, suites, num_samples, *b.inputs, *glue], panel.outputs, api_name="evaluate")
    panel.timer.tick(
        partial(poll_eval, ctx, c=c),
        [panel.job, model],
        [*panel.outputs, results, report],
        show_progress="hidden",
        api_name="eval_status",
    )
    return c


def wire_load(demo: gr.Blocks, ctx: StudioContext, c: EvaluateComponents, tab: gr.Tab | None = None) -> None:
    """Opening the tab refreshes the model choices (a run may have finished meanwhile); the value stays."""
    refresh_on_open(demo, tab, lambda: gr.update(choices=model_choices(ctx)), None, c.model, on_load=False)
