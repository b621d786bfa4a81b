"""Where models live on disk: the model and checkpoint folder names, and finding the folder to load
for a run name or path. Shared by training, generation, evaluation and export, so none of them
imports another's code for it. Standard library only; never imports torch or gradio.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import UserError
from core.workspace import Workspace

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CHECKPOINT_PREFIX = "checkpoint-"


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Finished checkpoint folders of a run, oldest step first (temp folders excluded)."""
    found = []
    for path in Path(run_dir).glob(f"{CHECKPOINT_PREFIX}*"):
        suffix = path.name[len(CHECKPOINT_PREFIX) :]
        if path.is_dir() and suffix.isdigit():
            found.append((int(suffix), path))
    return [p for _, p in sorted(found)]


def model_folder(folder: str | Path) -> Path | None:
    """The loadable model inside a run or model folder: the folder itself when it holds a final
    model, else its newest `checkpoint-<step>/` with weights, else `main/` (a BabyLM export made by
    `export --format babylm`), else None."""
    folder = Path(folder)
    if _has_model(folder):
        return folder
    if _has_model(folder / "main") and not list_checkpoints(folder):
        return folder / "main"
    # Checkpoints are written to a temp folder and renamed, so a listed one is complete.
    for checkpoint in reversed(list_checkpoints(folder)):
        if _has_model(checkpoint):
            return checkpoint
    return None


def _has_model(folder: Path) -> bool:
    return (folder / CONFIG_FILE).is_file() and any(folder.glob("model*.safetensors"))


def resolve_model(path_or_run: str | Path, workspace: Workspace) -> Path:
    """The folder to load for a run name, a run/checkpoint folder or any HF causal-LM folder.

    A bare name is a run under `<workspace>/models/`; a relative path is looked up in the
    workspace first, then from the current folder.
    """
    ref = str(path_or_run).strip()
    if not ref:
        raise UserError("model: no model given; pick a run name or a model folder")
    raw = Path(ref).expanduser()
    if raw.is_absolute():
        candidates = [raw]
    else:
        candidates = [workspace.models_dir / ref, workspace.root / ref, raw]
    found = next((p for p in candidates if p.is_dir()), None)
    if found is None:
        raise UserError(
            f"model {ref!r}: no run or folder of that name in {workspace.models_dir} "
            "(pick a run from `babyllama runs`, or give a model folder)"
        )
    chosen = model_folder(found)
    if chosen is None:
        raise UserError(
            f"model {ref!r}: {found} holds no model yet ({CONFIG_FILE} + {MODEL_FILE}, "
            "or a checkpoint-<step>/ folder with them): wait for the run's first "
            "checkpoint, or pick a finished run"
        )
    return chosen
