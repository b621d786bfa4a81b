"""The studio's API-only endpoints: what a script needs that no button does by itself (the runs
and their state, a run's metric rows since a step). Every user action in the tabs has its own
`api_name` too; docs/api.md drives both with gradio_client. Plain reads of core; no state.
"""

from __future__ import annotations

import dataclasses

import gradio as gr

from core import jobs
from core.train.best import read_best
from studio.context import StudioContext

RUN_FIELDS = (
    "name",
    "kind",
    "status",
    "step",
    "total_steps",
    "created",
    "started",
    "ended",
    "error",
    "hint",
    "command",
    "run_dir",
)


def list_runs(ctx: StudioContext, kind: str = "") -> list[dict]:
    """Every run (training, distillation, jobs), newest first; `kind` (train, distill, prepare,
    tokenize, eval, export) narrows it. Dead processes are marked lost on the way."""
    with ctx.history() as h:
        runs = jobs.refresh_all(h)
    return [{k: d[k] for k in RUN_FIELDS} for d in (r.to_dict() for r in runs if not kind or r.kind == kind)]


def run_info(ctx: StudioContext, run: str) -> dict:
    """One run's row (status, step, total_steps, error, hint, command, ...) and `best` (the kept
    checkpoint of training.keep_best: step, metric, value; None without); {} when there is none."""
    with ctx.history() as h:
        if h.get_run(run) is None:
            return {}
        row = jobs.refresh(h, run)
    best = read_best(row.run_dir) if row.run_dir else None
    shown = row.to_dict()
    return {**{k: shown[k] for k in RUN_FIELDS}, "best": dataclasses.asdict(best) if best else None}


def run_metrics(ctx: StudioContext, run: str, after_step: int = -1) -> list[dict]:
    """The run's metric rows with step > after_step (step, name, value, time, tokens, words), in
    step order: poll with the last step you saw, as the Train tab's dashboard does."""
    with ctx.history() as h:
        return h.metrics_since(run, int(after_step))


def register(ctx: StudioContext) -> None:
    """Add the endpoints to the Blocks being built (call inside `with gr.Blocks()`)."""

    # gr.api types each endpoint from the function's own hints: typed closures, not partials.
    def list_runs_api(kind: str = "") -> list[dict]:
        return list_runs(ctx, kind)

    def run_info_api(run: str) -> dict:
        return run_info(ctx, run)

    def run_metrics_api(run: str, after_step: int = -1) -> list[dict]:
        return run_metrics(ctx, run, after_step)

    for fn, name, target in (
        (list_runs_api, "list_runs", list_runs),
        (run_info_api, "run_info", run_info),
        (run_metrics_api, "run_metrics", run_metrics),
    ):
        gr.api(fn, api_name=name, api_description=target.__doc__)
