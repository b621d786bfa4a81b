"""The job, status, log and timer block every tab that starts a background job shows, built once
(`job_panel`), and the handlers' answers for it as dicts keyed by its components.
Gradio only; no engine logic (job rows come through studio.shared) and no state between calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import gradio as gr

from core.errors import UserError
from core.history import FINAL
from studio.context import StudioContext
from studio.shared import active_job, job_view

POLL_S = 1.0


@dataclass(frozen=True)
class JobPanel:
    """The components of one job block: the job's name (hidden), its status, its log tail and the poll timer."""

    job: gr.Textbox
    status: gr.Markdown
    log: gr.Textbox
    timer: gr.Timer

    @property
    def outputs(self) -> list:
        """The four components, for an event's `outputs`."""
        return [self.job, self.status, self.log, self.timer]


def job_panel(prefix: str, idle: str = "", log_lines: int = 6, log_label: str = "Job log (tail)") -> JobPanel:
    """The block, built where it is called; elem_ids `<prefix>-job`, `-status`, `-log`. The timer starts
    stopped: Start and the load-time re-attach turn it on."""
    job = gr.Textbox(visible=False, elem_id=f"{prefix}-job")
    status = gr.Markdown(idle, elem_id=f"{prefix}-status")
    log = gr.Textbox(label=log_label, lines=log_lines, max_lines=max(12, log_lines), interactive=False, elem_id=f"{prefix}-log")
    timer = gr.Timer(POLL_S, active=False)
    return JobPanel(job, status, log, timer)


def started(ctx: StudioContext, panel: JobPanel, job: str) -> dict:
    """A Start handler's answer once `job` exists: its name, status and log, and the timer on."""
    status, log, _ = job_view(ctx, job)
    return {panel.job: job, panel.status: status, panel.log: log, panel.timer: gr.Timer(active=True)}


def refused(panel: JobPanel, err: UserError) -> dict:
    """A Start handler's answer to bad input: a warning, the message as status, nothing else changed."""
    gr.Warning(str(err))
    return {panel.status: f"⚠️ {err}"}


def poll(ctx: StudioContext, panel: JobPanel, kind: str, job: str, refresh: Callable[[str | None], dict]) -> dict:
    """A timer tick (or a page load, with no `job`) for a tab's background job of `kind`.

    With no job it re-attaches to a live job of `kind`, else answers `refresh(None)` (the tab's fresh
    lists); when the job ends it answers `refresh(output)` too, selecting what the job made.
    """
    job = job or active_job(ctx, kind)
    if not job:
        return {panel.job: "", panel.timer: gr.Timer(active=False), **refresh(None)}
    status, log, run = job_view(ctx, job)
    answer = {panel.job: job, panel.status: status, panel.log: log}
    if run.status not in FINAL:
        return {**answer, panel.timer: gr.Timer(active=True)}
    output = (run.config or {}).get("output") if run.status == "finished" else None
    return {**answer, panel.timer: gr.Timer(active=False), **refresh(output)}
