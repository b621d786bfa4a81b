"""Evaluate tab handlers: an eval job on a finished run, results table and report file."""

from __future__ import annotations

import time

import gradio as gr

from core import config, jobs
from core.config import presets
from core.history import FINAL
from studio.context import StudioContext
from studio.tabs import evaluate as tab
from tests.conftest import TINY


def _start(ctx, *args) -> tuple:
    """start_eval's answer as (job, status, log, timer); a refusal answers only the status."""
    with gr.Blocks():
        c = tab.build(ctx)
    out = tab.start_eval(ctx, *args, c=c)
    return tuple(out.get(k) for k in c.panel.outputs)


def _finished_run(ws, name="ev"):
    cfg = config.load(presets.find("tiny"), [*TINY, "training.max_steps=10"])
    with StudioContext(ws).history() as h:
        jobs.start("train", cfg, ws, h, name=name)
        deadline = time.monotonic() + 120
        while jobs.refresh(h, name).status not in FINAL and time.monotonic() < deadline:
            time.sleep(0.2)
        assert h.get_run(name).status == "finished"


def test_bad_options_start_nothing(ready_workspace):
    ctx = StudioContext(ready_workspace)
    out = _start(ctx, None, ["ppl"], 10)
    assert "Model" in out[1]
    out = _start(ctx, "whatever", [], 10)
    assert "no suite chosen" in out[1]
    with ctx.history() as h:
        assert h.list_runs(kind="eval") == []


def test_eval_job_fills_results_and_report(ready_workspace):
    ctx = StudioContext(ready_workspace)
    _finished_run(ready_workspace)
    assert "ev" in tab.model_choices(ctx)
    job, status, log, timer = _start(ctx, "ev", ["ppl", "cloze"], 20)
    assert timer.active and job.startswith("eval-ev") and "babyllama eval ev --suite ppl,cloze" in status
    deadline = time.monotonic() + 120
    with gr.Blocks():
        c = tab.build(ctx)
    while time.monotonic() < deadline:
        out = tab.poll_eval(ctx, job, "ev", c)
        status, timer, results, report = (out.get(k) for k in (c.panel.status, c.panel.timer, c.results, c.report))
        if not timer.active:
            break
        time.sleep(0.3)
    assert "finished" in status, status
    assert {"ppl", "cloze"} <= set(results["suite"]) and report.endswith("report.html")
    assert any(results["metric"].str.contains("perplexity"))


def test_tab_builds(ready_workspace):
    with gr.Blocks():
        with gr.Tab("Evaluate"):
            assert tab.build(StudioContext(ready_workspace)).start is not None
