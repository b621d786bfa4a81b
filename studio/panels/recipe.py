"""Not a tab: the Train tab's Recipe accordion. Starts `babyllama recipe babyllama-2023` as the CLI does
(core.recipe.chain: the same options, check and command) and shows each chain as one item whose detail
lists every step's status and progress. Holds no job state: the history rows are read on every poll.
"""

from __future__ import annotations

import html
from functools import partial
from typing import NamedTuple

import gradio as gr

from core import jobs
from core.errors import UserError
from core.history import FINAL
from core.recipe import babyllama2023 as recipe
from core.recipe import chain
from studio.context import StudioContext

POLL_S = 2.0
SCALE_CHOICES = [
    ("published (GPU: the paper's models)", "published"),
    ("tiny (NOT the published recipe: the `tiny` preset, a few steps)", "tiny"),
]
# Step kind -> what the detail calls it (teacher 1, teacher 2, student, BabyLM evals, comparison).
_ROLES = {
    "gpu-check": "GPU check",
    "tokenize": "tokenizer",
    "distill": "student (distilled)",
    "eval": "BabyLM eval",
    "table": "comparison table",
}
_ICONS = {"completed": "✅", "skipped": "⏭️", "running": "🏃", "queued": "⏳", "failed": "❌", "not started": "·"}


class RecipeComponents(NamedTuple):
    data: gr.Textbox
    babylm_data: gr.Textbox
    tokenizer: gr.Dropdown
    scale: gr.Radio
    name: gr.Textbox
    start: gr.Button
    command: gr.Code
    chain: gr.Dropdown
    detail: gr.Markdown
    timer: gr.Timer


# ---------------------------------------------------------------------------------------------
# Handlers (plain functions; tests call them directly)
# ---------------------------------------------------------------------------------------------


def options(data, babylm_data, tokenizer, scale, name) -> chain.RecipeOptions:
    """The form as the CLI's `RecipeOptions` (existing paths made absolute, as `babyllama recipe` does)."""
    return chain.RecipeOptions(
        data=chain.path_or_name((data or "").strip()),
        babylm_data=chain.path_or_name((babylm_data or "").strip()),
        tokenizer=chain.path_or_name((tokenizer or "").strip()),
        scale=scale or "published",
        name=(name or "").strip(),
    )


def show_command(ctx: StudioContext, data, babylm_data, tokenizer, scale, name) -> str:
    """The equivalent `babyllama recipe babyllama-2023 ...` command (or the problem, as a comment)."""
    try:
        opts = options(data, babylm_data, tokenizer, scale, name)
        chain.check_data(opts, ctx.workspace)
    except UserError as err:
        return "# " + str(err).replace("\n", "\n# ")
    return chain.command(opts, ctx.workspace)


def start_recipe(ctx: StudioContext, data, babylm_data, tokenizer, scale, name, c: RecipeComponents) -> dict:
    """Start the `recipe` job as the CLI would -> the chains dropdown, detail, timer and command."""
    try:
        opts = options(data, babylm_data, tokenizer, scale, name)
        command = chain.command(opts, ctx.workspace)
        with ctx.history() as h:
            job = chain.start(opts, ctx.workspace, h, command=command)
    except UserError as err:
        gr.Warning(str(err).split("\n")[0])
        return {c.detail: f"⚠️ {err}", c.timer: gr.Timer(active=False)}
    return {
        c.chain: gr.update(choices=chain_choices(ctx), value=job.name),
        c.detail: describe(ctx, job.name),
        c.timer: gr.Timer(active=True),
        c.command: command,
    }


def chain_choices(ctx: StudioContext) -> list[str]:
    """Every `recipe` job, newest first: one item per chain started."""
    with ctx.history() as h:
        return [r.name for r in h.list_runs(kind=chain.KIND)]


def attach(ctx: StudioContext):
    """Page load: select the newest live recipe job (else the newest one) -> (chains, detail, timer)."""
    choices = chain_choices(ctx)
    with ctx.history() as h:
        live = [n for n in choices if jobs.refresh(h, n).status not in FINAL]
    selected = live[0] if live else (choices[0] if choices else None)
    return (gr.update(choices=choices, value=selected), describe(ctx, selected) if selected else "", gr.Timer(active=bool(live)))


def poll(ctx: StudioContext, job: str | None):
    """One timer tick -> (detail, timer): polling stops once the recipe job has ended."""
    if not job:
        return "", gr.Timer(active=False)
    with ctx.history() as h:
        live = jobs.refresh(h, job).status not in FINAL
    return describe(ctx, job), gr.Timer(active=live)


def step_status(state: chain.StepState, chain_live: bool) -> str:
    """completed | skipped | running | queued | failed | not started (a step the chain has not reached)."""
    if state.state == "done":
        return "completed"
    if state.state == "running":
        return "queued" if state.job_status == "queued" else "running"
    if state.state == "todo":
        return "queued" if chain_live else "not started"
    return state.state  # skipped, failed


def describe(ctx: StudioContext, job: str) -> str:
    """Markdown of one chain: the recipe job's status and step i/n, then a row per step."""
    with ctx.history() as h:
        row = jobs.refresh(h, job)
        opts = chain.RecipeOptions.from_dict(row.config or {})
        states = chain.status(opts, ctx.workspace, h)
    live = row.status not in FINAL
    head = f"**{html.escape(job)}**: {row.status} · step {row.step or 0}/{len(states)} of chain `{opts.name}`" + (
        "" if opts.scale == "published" else " · scale tiny: NOT the published recipe"
    )
    if row.error:
        head += f"\n\n**Error:** {row.error}"
    lines = [head, "", "| step | what | job / run | status | progress | note |", "|---|---|---|---|---|---|"]
    for state in states:
        status = step_status(state, live)
        progress = (
            f"{state.done_steps:,}/{state.total_steps:,} ({100 * state.done_steps / state.total_steps:.0f}%)"
            if state.total_steps
            else "-"
        )
        note = state.note if state.state != "running" else ""
        lines.append(
            f"| {state.step.name} | {_role(state.step)} | {state.job or '-'} | {_ICONS[status]} {status} | "
            f"{progress} | {note.replace('|', '/')} |"
        )
    if row.command:
        lines += ["", f"Same as: `{row.command}`"]
    return "\n".join(lines)


def _role(step: recipe.Step) -> str:
    if step.kind == "train":
        return f"teacher {recipe.TEACHERS.index(step.model) + 1}"
    return _ROLES.get(step.kind, step.kind)


# ---------------------------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------------------------


def build_panel(ctx: StudioContext) -> RecipeComponents:
    """The Recipe accordion (call inside the Train tab's builder)."""
    with gr.Accordion(
        "Recipe: BabyLlama 2023 (two teachers, a distilled student, BabyLM evals, comparison)", open=False, elem_id="train-recipe"
    ):
        with gr.Row():
            data = gr.Textbox(
                label="data folder (--data)", placeholder="./data/babylm_10M_clean or a corpus name", elem_id="recipe-data"
            )
            babylm = gr.Textbox(
                label="BabyLM evaluation data (--babylm-data; empty: <workspace>/evaluation_data)", elem_id="recipe-babylm-data"
            )
            tokenizer = gr.Dropdown(
                [""] + ctx.workspace.tokenizers(),
                value="",
                allow_custom_value=True,
                label="tokenizer (--tokenizer; empty: the chain trains one)",
            )
            scale = gr.Radio(SCALE_CHOICES, value="published", label="scale (--scale)")
            name = gr.Textbox(label="chain name (--name; empty: babyllama-2023[-tiny])")
        with gr.Row():
            start = gr.Button("Start recipe", variant="primary", elem_id="recipe-start")
            show = gr.Button("Show CLI command", size="sm")
        command = gr.Code(label="equivalent command", language="shell", lines=1, elem_id="recipe-command")
        chains = gr.Dropdown([], label="recipe chain", allow_custom_value=True, elem_id="recipe-chain")
        detail = gr.Markdown(elem_id="recipe-detail")
    timer = gr.Timer(POLL_S, active=False)
    form = [data, babylm, tokenizer, scale, name]
    show.click(partial(show_command, ctx), form, command, api_name="recipe_command")
    c = RecipeComponents(data, babylm, tokenizer, scale, name, start, command, chains, detail, timer)
    start.click(partial(start_recipe, ctx, c=c), form, [chains, detail, timer, command], api_name="start_recipe")
    gr.on(
        [timer.tick, chains.change], partial(poll, ctx), chains, [detail, timer], show_progress="hidden", api_visibility="private"
    )
    # Page load (triggers=None): re-attach to the newest live chain from the database.
    gr.on(
        triggers=None,
        fn=partial(attach, ctx),
        inputs=[],
        outputs=[chains, detail, timer],
        show_progress="hidden",
        api_visibility="private",
    )
    return c
