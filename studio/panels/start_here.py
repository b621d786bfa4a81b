"""The "Start here" panel: shown on an empty workspace, one click starts core.jobs.quickstart's chain and
hands over to the Train tab's live curve once the tiny run exists.

The chain is one background job (closing the page does not stop it); the panel only polls its row.
Must not hold job state: a reload re-attaches to a live `quickstart` job from the database.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import gradio as gr

from core import jobs
from core.cli.quickstart_cmds import FIRST_CURVE
from core.errors import UserError
from core.history import ACTIVE, FINAL, Run
from core.jobs import quickstart
from studio.context import StudioContext
from studio.shared import log_tail
from studio.tabs.train import run_choices  # the Train tab's own list: its dropdown must offer the new run

POLL_S = 1.0
INTRO = (
    "### Start here\nThis workspace is empty. One click makes a small synthetic corpus "
    f"({quickstart.DEFAULTS['words'] // 1000}k words), a {quickstart.DEFAULTS['vocab_size']}-token tokenizer "
    f"and a `{quickstart.DEFAULTS['preset']}` run, as background jobs, then shows its live loss curve "
    f"in the Train tab (first loss point {FIRST_CURVE}). The same from a terminal: "
    "`babyllama quickstart`."
)


class StartComponents(NamedTuple):
    group: gr.Group
    button: gr.Button
    status: gr.Markdown
    job: gr.Textbox
    timer: gr.Timer


# ---------------------------------------------------------------------------------------------
# Handlers (plain functions; tests call them directly)
# ---------------------------------------------------------------------------------------------


def live_job(ctx: StudioContext) -> str:
    """The newest queued/running `quickstart` job, or ""."""
    with ctx.history() as h:
        live = [r for r in h.list_runs(kind=quickstart.KIND) if jobs.refresh(h, r.name).status in ACTIVE]
    return live[0].name if live else ""


def on_load(ctx: StudioContext):
    """Page load: show the panel on an empty workspace or while a chain runs -> (group, job, timer)."""
    job = live_job(ctx)
    with ctx.history() as h:
        empty = quickstart.is_empty(ctx.workspace, h)
    return gr.Group(visible=empty or bool(job)), job, gr.Timer(active=bool(job))


def start_chain(ctx: StudioContext, c: StartComponents) -> dict:
    """Start the quickstart job -> its name, status, the timer and the button; a refusal starts nothing."""
    try:
        with ctx.history() as h:
            row = quickstart.start(ctx.workspace, h)
    except UserError as err:
        return {
            c.job: "",
            c.status: f"**Could not start:** {err}",
            c.timer: gr.Timer(active=False),
            c.button: gr.Button(interactive=True),
        }
    return {
        c.job: row.name,
        c.status: describe(row, ""),
        c.timer: gr.Timer(active=True),
        c.button: gr.Button(interactive=False),
    }


def describe(row: Run, log: str) -> str:
    """Markdown of the chain's progress: step i/3, the planned names, and the last log line."""
    params = row.config or {}
    done = row.step or 0
    text = f"⏳ step {min(done + 1, 3)}/3 · {quickstart.describe_plan(params)}" if params else "⏳ starting"
    last = [line for line in log.splitlines() if line.strip()][-1:] if log else []
    return text + (f"\n\n`{last[0]}`" if last else "")


def poll(ctx: StudioContext, job: str, c: StartComponents, tabs: gr.Tabs, train) -> dict:
    """One poll -> the panel's status, timer, group and button, and once the chain finished the
    page's `tabs` and the Train tab's run, timer, corpus and tokenizer (`train`: TrainComponents).

    Once the chain finished, the Train tab is selected with the new run and its dashboard polling;
    a failed chain says which step failed and why, and the button can be clicked again.
    """
    if not job:
        return {c.status: "", c.timer: gr.Timer(active=False), c.button: gr.Button(interactive=True)}
    with ctx.history() as h:
        row = jobs.refresh(h, job)
        run = row.config.get("run")
        train_row = h.get_run(run) if run else None
    if row.status not in FINAL:
        return {c.status: describe(row, log_tail(row.run_dir, 5)), c.timer: gr.Timer()}
    if row.status == "finished" and train_row is not None:
        return {
            c.status: f"✅ run `{run}` started: its live curve is in the Train tab",
            c.timer: gr.Timer(active=False),
            tabs: gr.Tabs(selected="train"),
            train.dash.run: gr.update(choices=run_choices(ctx), value=run),
            train.dash.timer: gr.Timer(active=True),
            c.group: gr.Group(visible=False),
            c.button: gr.Button(interactive=True),
            train.controls.corpus: gr.update(choices=ctx.workspace.corpora(), value=row.config["corpus"]),
            train.controls.tokenizer: gr.update(choices=ctx.workspace.tokenizers(), value=row.config["tokenizer"]),
        }
    error = row.error or f"the quickstart job ended {row.status}"
    return {
        c.status: f"❌ **{error}**\n\nSee `babyllama runs logs {job}`.",
        c.timer: gr.Timer(active=False),
        c.button: gr.Button(interactive=True),
    }


# ---------------------------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------------------------


def build(ctx: StudioContext) -> StartComponents:
    """The panel (hidden until the page load finds an empty workspace)."""
    with gr.Group(visible=False, elem_id="start-here") as group:
        gr.Markdown(INTRO)
        button = gr.Button("Make a sample corpus, a tokenizer and a tiny run", variant="primary", elem_id="start-here-button")
        status = gr.Markdown(elem_id="start-here-status")
    job = gr.Textbox(visible=False, elem_id="start-here-job")
    timer = gr.Timer(POLL_S, active=False)
    c = StartComponents(group, button, status, job, timer)
    button.click(partial(start_chain, ctx, c=c), None, [job, status, timer, button], api_name="quickstart")
    return c


def wire(demo: gr.Blocks, ctx: StudioContext, c: StartComponents, tabs: gr.Tabs, train) -> None:
    """Page load shows or hides the panel; its timer hands over to the Train tab (`train`: TrainComponents)."""
    demo.load(partial(on_load, ctx), None, [c.group, c.job, c.timer], api_visibility="private")
    outputs = [
        c.status,
        c.timer,
        tabs,
        train.dash.run,
        train.dash.timer,
        c.group,
        c.button,
        train.controls.corpus,
        train.controls.tokenizer,
    ]
    c.timer.tick(
        partial(poll, ctx, c=c, tabs=tabs, train=train), c.job, outputs, show_progress="hidden", api_visibility="private"
    )
