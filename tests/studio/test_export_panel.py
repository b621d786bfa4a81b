"""Export section handlers: start an export job from the studio, poll it, show the results."""

from __future__ import annotations

import time

import gradio as gr

from core.history import open_history
from studio.context import StudioContext
from studio.panels import export as panel
from tests.core.evaluate.conftest import save_tiny_run


def _run(ws, name="ex"):
    from core.tokenizer import load_tokenizer

    with open_history(ws) as history:
        save_tiny_run(ws, name, load_tokenizer("tok", ws), history=history)


def _parts(ctx) -> panel.ExportComponents:
    """The section's components: its handlers answer dicts keyed by them."""
    with gr.Blocks():
        return panel.build(ctx)


def _start(ctx, fmt, model) -> tuple:
    """start_export's answer as (job, status, log, timer, result); a refusal answers only the status."""
    c = _parts(ctx)
    out = panel.start_export(ctx, fmt, model, c)
    return tuple(out.get(k) for k in (*c.panel.outputs, c.result))


def _wait(ctx, job):
    c = _parts(ctx)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        out = panel.poll_export(ctx, job, c)
        status, log, timer, result = (out.get(k) for k in (c.panel.status, c.panel.log, c.panel.timer, c.result))
        if not timer.active:
            return status, log, result
        time.sleep(0.3)
    raise AssertionError(f"export job {job} did not end: {status}")


def test_bad_input_starts_nothing(ready_workspace):
    ctx = StudioContext(ready_workspace)
    assert "Model: choose a finished run" in _start(ctx, "hf", None)[1]
    assert "model 'ghost': no run or folder" in _start(ctx, "onnx", "ghost")[1]
    with ctx.history() as h:
        assert h.list_runs(kind="export") == []


def test_hf_button_exports_and_shows_the_folder(ready_workspace):
    ctx = StudioContext(ready_workspace)
    _run(ready_workspace)
    assert "ex" in panel.model_choices(ctx)
    job, status, log, timer, result = _start(ctx, "hf", "ex")
    target = ready_workspace.root / "exports" / "ex-hf"
    assert timer.active and job == "export-ex-hf" and str(target) in result
    assert "babyllama export ex --format hf" in status
    again = _start(ctx, "hf", "ex")  # same folder while the first job writes it
    assert "already writing" in again[1] or "already exists" in again[1]
    status, log, result = _wait(ctx, job)
    assert "finished" in status, status
    assert f"**Output:** `{target}`" in result and "`model.safetensors`" in result and "`README.md`" in result


def test_int8_button_shows_size_and_perplexity(ready_workspace):
    ctx = StudioContext(ready_workspace)
    _run(ready_workspace, "q")
    job, *_ = _start(ctx, "int8", "q")
    status, log, result = _wait(ctx, job)
    assert "finished" in status, (status, log)
    assert "**ONNX check:** ✅ passed" in result and "| size (MB) |" in result and "| perplexity on syn/dev |" in result


def test_section_builds_inside_the_evaluate_tab(ready_workspace):
    from studio.tabs import evaluate

    with gr.Blocks():
        with gr.Tab("Evaluate"):
            evaluate.build(StudioContext(ready_workspace))
        parts = panel.build(StudioContext(ready_workspace))
    assert set(parts.buttons) == {"hf", "onnx", "int8"}
