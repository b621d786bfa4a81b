"""Assemble the studio's Blocks from the tab builders; the only place tabs meet.

Shared things (the workspace) travel in a `StudioContext`, never in module globals; job state
lives in SQLite, so every browser session sees the same runs.
"""
from __future__ import annotations

from importlib import import_module

import gradio as gr

from core.workspace import Workspace
from studio.context import StudioContext

# (tab title, module under studio.tabs); a module whose file is not there yet is skipped.
TABS = (("Data", "data"), ("Tokenizer", "tokenizer"), ("Model", "model"), ("Train", "train"),
        ("Evaluate", "evaluate"), ("Compare", "compare"), ("Chat", "chat"))

CSS = """
.bl-badge { display: inline-block; }
footer { display: none !important; }
"""


def build_app(workspace: Workspace) -> gr.Blocks:
    """The studio page for `workspace`."""
    ctx = StudioContext(workspace)
    with gr.Blocks(title="BabyLlama Studio") as demo:
        gr.Markdown(f"## BabyLlama Studio\n<small>workspace `{workspace.root}`</small>")
        built = {}
        with gr.Tabs():
            for title, module_name in TABS:
                try:
                    module = import_module(f"studio.tabs.{module_name}")
                except ModuleNotFoundError as err:
                    if err.name != f"studio.tabs.{module_name}":
                        raise
                    continue
                with gr.Tab(title, id=module_name, elem_id=f"tab-{module_name}"):
                    built[module_name] = module.build(ctx)
        for module_name, components in built.items():
            wire = getattr(import_module(f"studio.tabs.{module_name}"), "wire_load", None)
            if wire is not None:
                wire(demo, ctx, components)
    return demo
