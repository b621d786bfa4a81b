"""Loading a run's model and tokenizer for inference (chat, evaluation, serving, export checks).

Must not import gradio or training code; the folder lookups are core.model.folders's.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import UserError
from core.model.folders import resolve_model
from core.workspace import Workspace


def load_model(path_or_run: str | Path, workspace: Workspace, *, device: str | None = None):
    """(model, tokenizer) for a run name or model folder, in eval mode on `device` (default: CUDA
    when available, else CPU). Nothing is cached: the caller keeps the pair."""
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = resolve_model(path_or_run, workspace)
    try:
        model = AutoModelForCausalLM.from_pretrained(str(folder))
    except (OSError, ValueError, KeyError) as err:
        raise UserError(
            f"model {str(folder)!r} is not a causal language model transformers can "
            f"load ({_first_line(err)}); pick a run or a folder saved with save_pretrained"
        ) from err
    except (SafetensorError, RuntimeError) as err:  # a truncated or damaged weights file; shapes that disagree
        raise UserError(
            f"model {str(folder)!r}: its weights cannot be read ({_first_line(err)}); the file is "
            "damaged or incomplete (an interrupted copy or save?): copy or save the model again, or "
            "pick one of its checkpoints"
        ) from err
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
    except Exception as err:  # noqa: BLE001 - `tokenizers` raises bare Exception for a damaged tokenizer.json
        raise UserError(
            f"model {str(folder)!r} has no usable tokenizer ({_first_line(err)}); save the "
            "tokenizer into the same folder (tokenizer.save_pretrained)"
        ) from err
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval(), tokenizer


def _first_line(err: Exception) -> str:
    """The gist of a loader's message (some span many lines), for a one-line error."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0][:300] if text else ''}"
