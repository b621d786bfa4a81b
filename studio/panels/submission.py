"""The Submission section of the Evaluate tab: for a run and a BabyLM track, every part x checkpoint
as done / running / missing (a coloured table), a button that starts what is missing (the same
`submission` job as `babyllama submission --detach`), and the scoreboard: every fast task per
revision, `main`'s every task (full suite, reading, AoA, GLUE), and the hand-in's table as the pipeline's
calculate_results_from_pred.py prints it. Plain handlers over
core.submission returning dicts keyed by component; no state.
"""

from __future__ import annotations

import html
from functools import partial
from typing import NamedTuple

import gradio as gr

from core.errors import UserError
from core.submission.run import SubmissionOptions, plan_for, start_detached
from studio.context import StudioContext
from studio.shared import model_choices

COLOURS = {
    "done": "#2e7d32",
    "running": "#0277bd",
    "queued": "#0277bd",
    "missing": "#ef6c00",
    "short": "#c62828",
    "failed": "#c62828",
    "unavailable": "#757575",
}


class SubmissionComponents(NamedTuple):
    run: gr.Dropdown
    track: gr.Radio
    data: gr.Textbox
    scale: gr.Number
    check: gr.Button
    start: gr.Button
    status: gr.Markdown
    table: gr.HTML
    board: gr.HTML


def table_html(plan) -> str:
    """The part x revision table, the status cell coloured."""
    rows = "".join(
        f"<tr><td>{p.kind}</td><td>{p.revision}</td><td style='color:#fff;background:{COLOURS.get(p.status, '#555')}'>"
        f"{p.status}</td><td>{html.escape(p.job or '')}</td><td>{html.escape(p.note)}</td></tr>"
        for p in plan.parts
    )
    return (
        "<table class='submission-parts'><tr><th>part</th><th>revision</th><th>status</th><th>job</th>"
        f"<th>note</th></tr>{rows}</table>"
    )


def board_html(plan) -> str:
    """A row per fast revision, a column per task: the mean over its UIDs of the collated file's
    `fast_eval_results` (reading: eye-tracking `rt` / self-paced `spr`); before collation, each
    part's status."""
    import json
    import math

    from core.submission.collate import FAST_TASKS, output_path

    fast = [p for p in plan.parts if p.kind == "fast"]
    path = output_path(plan)
    scores = json.loads(path.read_text(encoding="utf-8"))["fast_eval_results"] if path.is_file() else None
    heads = "".join(f"<th>{t}</th>" for t in FAST_TASKS if t != "reading") + "<th>reading rt</th><th>reading spr</th>"
    rows = []
    for i, part in enumerate(fast):
        if scores is None or i >= len(scores["blimp"]):
            cells = f"<td colspan='{len(FAST_TASKS) + 1}'>{part.status} (not collated yet)</td>"
        else:
            values = [_mean(scores[t][i].values()) for t in FAST_TASKS if t != "reading"]
            values += [scores["reading"][i].get("rt"), scores["reading"][i].get("spr")]
            cells = "".join(f"<td>{v:.3f}</td>" if v is not None and not math.isnan(v) else "<td>·</td>" for v in values)
        rows.append(f"<tr><td>{part.revision}</td>{cells}</tr>")
    fast_table = f"<table class='submission-board'><tr><th>revision</th>{heads}</tr>{''.join(rows)}</table>"
    return fast_table + main_board_html(plan) + hand_in_html(plan)


def hand_in_html(plan) -> str:
    """The table the pipeline's calculate_results_from_pred.py prints for the collated file (kept by
    the submission job in `<run>/submission/hand_in_scores.json`); empty before collation."""
    import json

    path = plan.results_dir.parent / "hand_in_scores.json"
    if not path.is_file():
        return ""
    scores = json.loads(path.read_text(encoding="utf-8"))
    heads = "".join(f"<th>{html.escape(s['label'])}</th>" for s in scores)
    cells = "".join(f"<td>{s['value']:.2f}</td>" for s in scores)
    return (
        "<p>As the pipeline's <code>calculate_results_from_pred.py</code> scores the hand-in "
        "(entity tracking a flat mean, WUG rho x 100, GLUE accuracy):</p>"
        f"<table class='submission-hand-in'><tr>{heads}</tr><tr>{cells}</tr></table>"
    )


def main_columns() -> list[tuple[str, str, str]]:
    """(part kind, suite, scoreboard label) of every task `main` hands in: the full zero-shot suite
    with reading's two scores, AoA's curve fitness, and the seven GLUE tasks."""
    from core.submission.collate import FULL_TASKS
    from core.submission.plan import GLUE_TASKS

    full = [("full", "babylm", label) for label in FULL_TASKS.values() if label != "reading"]
    reading = [("full", "babylm", "reading/reading_eye"), ("full", "babylm", "reading/reading_spr")]
    return [*full, *reading, ("aoa", "aoa", "curve_fitness"), *(("glue", "glue", t) for t in GLUE_TASKS)]


def main_board_html(plan) -> str:
    """One row for `main`, a column per task of `main_columns`: the score each part's eval wrote in
    its results.json (accuracy % / rho; reading gains; AoA Pearson r; GLUE each task's validation
    metric); a part not done shows its status instead, a task its eval did not score shows ·."""
    import json
    import math

    parts = {p.kind: p for p in plan.parts if p.revision == "main"}
    suites: dict[str, dict] = {}
    for kind, part in parts.items():
        path = part.output / "results.json"
        if part.status == "done" and path.is_file():
            suites[kind] = json.loads(path.read_text(encoding="utf-8")).get("suites", {})
    heads, cells = [], []
    for kind, suite, label in main_columns():
        heads.append(f"<th>{html.escape(label.split('/')[-1])}</th>")
        if kind not in suites:
            status = parts[kind].status if kind in parts else "missing"
            cells.append(f"<td style='color:{COLOURS.get(status, '#555')}'>{status}</td>")
            continue
        found = suites[kind].get(suite) or {}
        value = found.get("score") if suite == "aoa" else (found.get("scoreboard") or {}).get(label)
        ok = isinstance(value, (int, float)) and not math.isnan(value)
        cells.append(f"<td>{value:.3f}</td>" if ok else "<td>·</td>")
    return (
        f"<table class='submission-main'><tr><th>revision</th>{''.join(heads)}</tr><tr><td>main</td>{''.join(cells)}</tr></table>"
    )


def _mean(values) -> float | None:
    values = [v for v in values if isinstance(v, (int, float))]
    return sum(values) / len(values) if values else None


def show(ctx: StudioContext, run: str | None, track: str, data: str, scale: float, parts: SubmissionComponents) -> dict:
    """The table, the counts and the board for `run` on `track`."""
    try:
        if not run:
            raise UserError("Run: choose a finished training run")
        opts = SubmissionOptions(run, track, data, float(scale or 1))
        with ctx.history() as h:
            plan = plan_for(opts, ctx.workspace, h)
    except UserError as err:
        return {parts.status: f"⚠️ {err}"}
    counts = ", ".join(f"{n} {s}" for s, n in sorted(plan.counts().items()))
    notes = [f"- missing checkpoint: {s}" for s in plan.schedule] + ([f"- over budget: {plan.budget}"] if plan.budget else [])
    return {
        parts.status: "\n".join([f"**{run}**, {track}: {counts}", *notes]),
        parts.table: table_html(plan),
        parts.board: board_html(plan),
    }


def start(ctx: StudioContext, run: str | None, track: str, data: str, scale: float, parts: SubmissionComponents) -> dict:
    """Start the `submission` job that makes every missing part, then collates."""
    try:
        if not run:
            raise UserError("Run: choose a finished training run")
        with ctx.history() as h:
            row = start_detached(SubmissionOptions(run, track, data, float(scale or 1)), ctx.workspace, h)
    except UserError as err:
        return {parts.status: f"⚠️ {err}"}
    return {parts.status: f"Started job `{row.name}`; same as `{row.command}`"}


def build(ctx: StudioContext) -> SubmissionComponents:
    """The Submission accordion (call inside the Evaluate tab)."""
    with gr.Accordion("BabyLM submission (every checkpoint, one job, the collated file)", open=False, elem_id="eval-submission"):
        with gr.Row():
            run = gr.Dropdown(model_choices(ctx), allow_custom_value=True, label="run", scale=2)
            track = gr.Radio(["strict-small", "strict"], value="strict-small", label="track", scale=1)
            data = gr.Textbox(str(ctx.workspace.root / "evaluation_data"), label="BabyLM data (evaluation_data/)", scale=2)
            scale = gr.Number(1, minimum=0, label="word scale (1 = real marks)", scale=1)
        with gr.Row():
            check = gr.Button("Show parts")
            go = gr.Button("Start what is missing", variant="primary")
        status = gr.Markdown()
        table = gr.HTML()
        board = gr.HTML()
    parts = SubmissionComponents(run, track, data, scale, check, go, status, table, board)
    inputs = [run, track, data, scale]
    check.click(partial(show, ctx, parts=parts), inputs, {status, table, board}, api_name="submission_status")
    go.click(partial(start, ctx, parts=parts), inputs, {status}, api_name="start_submission")
    return parts
