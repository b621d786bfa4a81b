"""Assemble the studio's Blocks from the tab builders; the only place tabs meet.

Shared things (the workspace) are passed in, never kept in module globals. Until the full studio
lands this shows the workspace's corpora, tokenizers and presets.
"""
from __future__ import annotations

import gradio as gr

from core import presets
from core.workspace import Workspace


def workspace_summary(root: str) -> str:
    """Markdown listing what the workspace holds (a plain function, called by tests too)."""
    ws = Workspace.resolve(root)
    corpora = ", ".join(ws.corpora()) or "none yet (`babyllama data synth --name syn`)"
    tokenizers = ", ".join(ws.tokenizers()) or "none yet (`babyllama tokenizer train --data syn --name tok`)"
    names = ", ".join(sorted(presets.available(ws), key=str.lower))
    return (f"**Workspace** `{ws.root}`\n\n- **Corpora:** {corpora}\n- **Tokenizers:** {tokenizers}\n"
            f"- **Presets:** {names}")


def build_app(workspace: Workspace) -> gr.Blocks:
    """The studio page for `workspace`."""
    with gr.Blocks(title="BabyLlama Studio") as demo:
        gr.Markdown("# BabyLlama Studio\nTrain small language models from scratch.")
        root = gr.Textbox(value=str(workspace.root), visible=False, elem_id="workspace-root")
        summary = gr.Markdown(elem_id="workspace-summary")
        refresh = gr.Button("Refresh", size="sm")
        demo.load(workspace_summary, inputs=root, outputs=summary)
        refresh.click(workspace_summary, inputs=root, outputs=summary)
    return demo
