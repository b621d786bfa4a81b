"""Loading a run's model and tokenizer for inference (chat, evaluation, serving, export checks).

Must not import gradio or training code; the folder lookups are core.modelio's.
"""
from __future__ import annotations

from pathlib import Path

from core.errors import UserError
from core.modelio import resolve_model
from core.workspace import Workspace


def load_model(path_or_run: str | Path, workspace: Workspace, *, device: str | None = None):
    """(model, tokenizer) for a run name or model folder, in eval mode on `device` (default: CUDA
    when available, else CPU). Nothing is cached: the caller keeps the pair."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = resolve_model(path_or_run, workspace)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(folder))
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"model {str(folder)!r} is not a causal language model transformers can "
                        f"load ({err}); pick a run or a folder saved with save_pretrained") from err
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"model {str(folder)!r} has no usable tokenizer ({err}); save the "
                        "tokenizer into the same folder (tokenizer.save_pretrained)") from err
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval(), tokenizer
