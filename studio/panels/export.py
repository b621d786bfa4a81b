"""The Export section of the Evaluate tab: pick a model, export it as a transformers folder, an ONNX
file or an int8 ONNX file as a background `export` job, then show the check, sizes, perplexity and
the output folder (read from its export.json). Plain handlers over core.export.runner; no state.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import NamedTuple

import gradio as gr

from core.errors import UserError
from core.export.runner import RESULT_FILE, ExportOptions, start_export_job
from studio import job_panel
from studio.context import StudioContext
from studio.job_panel import JobPanel
from studio.shared import cli_command, model_choices

BUTTONS = {"hf": "HF folder (safetensors + model card)", "onnx": "ONNX (checked)", "int8": "int8 ONNX (size + perplexity)"}


class ExportComponents(NamedTuple):
    model: gr.Dropdown
    buttons: dict
    panel: JobPanel
    result: gr.Markdown


def start_export(ctx: StudioContext, fmt: str, model: str | None, c: ExportComponents) -> dict:
    """Start an `export` job of `model` in format `fmt` -> the job block and what it is doing."""
    try:
        if not model:
            raise UserError("Model: choose a finished run to export (train one in the Train tab first)")
        opts = ExportOptions(model=model, format=fmt)
        with ctx.history() as h:
            run = start_export_job(opts, ctx.workspace, h, command=cli_command(ctx, "export", model, "--format", fmt))
    except UserError as err:
        return job_panel.refused(c.panel, err)
    output = run.config["output"]
    return {**job_panel.started(ctx, c.panel, run.name), c.result: f"Exporting `{model}` as **{fmt}** to `{output}` …"}


def result_view(output: str | None) -> str:
    """Markdown of a finished export: output folder, files, ONNX check, int8 size and perplexity."""
    path = Path(output or "") / RESULT_FILE
    if not output or not path.is_file():
        return ""
    r = json.loads(path.read_text(encoding="utf-8"))
    lines = [f"**Output:** `{r['output']}`", "", "Files: " + ", ".join(f"`{f}`" for f in r["files"])]
    if "check" in r:
        c = r["check"]
        lines += [
            "",
            f"**ONNX check:** {'✅ passed' if c['passed'] else '❌ failed'}: max abs diff "
            f"{c['max_abs_diff']:.3g} (tolerance {c['tolerance']:.3g}) on {len(c['shapes'])} input shapes",
        ]
    if "int8" in r:
        q = r["int8"]
        s, b, a = q["size"], q["perplexity_before"], q["perplexity_after"]
        lines += [
            "",
            "| | float32 | int8 |",
            "|---|---|---|",
            f"| size (MB) | {s['fp32_onnx_mb']:.2f} | {s['int8_onnx_mb']:.2f} |",
            f"| perplexity on {q['data']} | {b['perplexity']:.3f} | {a['perplexity']:.3f} |",
            "",
            f"{s['ratio']:.2f}x smaller; perplexity {q['perplexity_change']:+.2%} over {a['tokens']:,} tokens.",
        ]
    return "\n".join(lines)


def poll_export(ctx: StudioContext, job: str, c: ExportComponents) -> dict:
    """Timer tick -> the job block, and the result once the export finished."""
    return job_panel.poll(ctx, c.panel, "export", job, lambda made: {c.result: result_view(made)} if made else {})


def build(ctx: StudioContext) -> ExportComponents:
    """The Export accordion (call inside the Evaluate tab)."""
    with gr.Accordion("Export", open=False, elem_id="export"):
        model = gr.Dropdown(
            model_choices(ctx),
            allow_custom_value=True,
            elem_id="export-model",
            label="model to export (a finished or stopped run)",
        )
        with gr.Row():
            buttons = {fmt: gr.Button(label, elem_id=f"export-{fmt}") for fmt, label in BUTTONS.items()}
        with gr.Row():
            result = gr.Markdown(elem_id="export-result")
            with gr.Column():
                panel = job_panel.job_panel("export", log_lines=8, log_label="log (tail)")
    model.focus(lambda: gr.update(choices=model_choices(ctx)), None, model, show_progress="hidden", api_visibility="private")
    c = ExportComponents(model, buttons, panel, result)
    for fmt, button in buttons.items():
        button.click(partial(start_export, ctx, fmt, c=c), model, [*panel.outputs, result], api_name=f"export_{fmt}")
    panel.timer.tick(
        partial(poll_export, ctx, c=c), panel.job, [*panel.outputs, result], show_progress="hidden", api_name="export_job"
    )
    return c
