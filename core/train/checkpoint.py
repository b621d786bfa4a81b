"""Resumable checkpoints: model + tokenizer (loadable by transformers), optimizer, scheduler,
RNG states, data position, counters and the resolved config, written atomically.

A checkpoint is complete only when its `checkpoint.json` manifest (sizes and SHA-256 of every
file) is present and matches; anything else is skipped with a message, never loaded.
Must not import gradio or the history module.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import yaml

from core.errors import UserError
from core.hashing import sha256_file

MANIFEST = "checkpoint.json"
STATE_FILE = "training_state.pt"
PREFIX = "checkpoint-"


@dataclass
class Progress:
    """Counters that place a run exactly: optimizer step, epoch and next batch within it."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0   # index of the next global batch in this epoch's order
    tokens_seen: int = 0
    window_loss: float = 0.0  # loss summed since the last log (rank 0), so a resumed run
    window_steps: int = 0     # logs the same mean as an uninterrupted one


def rng_state() -> dict:
    """Every random generator the loop touches (python, numpy, torch CPU and CUDA)."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(run_dir: Path, model, tokenizer, optimizer, scheduler, progress: Progress,
         config: dict, *, total_limit: int = 0) -> Path:
    """Write `checkpoint-<step>/` atomically (temp folder, manifest last, rename) and rotate."""
    final = Path(run_dir) / f"{PREFIX}{progress.step}"
    tmp = Path(run_dir) / f".{PREFIX}{progress.step}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model_folder(tmp, model, tokenizer, config)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "rng": rng_state(), "progress": asdict(progress)}, tmp / STATE_FILE)
    _write_manifest(tmp, progress)
    if final.exists():  # re-saving the same step (a stop right after a periodic save)
        shutil.rmtree(final)
    os.replace(tmp, final)
    rotate(run_dir, total_limit)
    return final


def save_model_folder(folder: Path, model, tokenizer, config: dict) -> None:
    """What `AutoModelForCausalLM` / `AutoTokenizer` load, plus the resolved run config."""
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    # A run that cannot record its config must fail, not train on unrecorded settings.
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _write_manifest(folder: Path, progress: Progress) -> None:
    files = {p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
             for p in sorted(folder.iterdir()) if p.is_file()}
    manifest = {"step": progress.step, "time": time.time(), "files": files}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")


def verify(folder: Path) -> str | None:
    """None when the checkpoint is complete and intact, else what is wrong with it."""
    manifest_path = Path(folder) / MANIFEST
    if not manifest_path.is_file():
        return "no checkpoint.json manifest (an interrupted write?)"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        return f"unreadable manifest: {err}"
    for name, info in manifest.get("files", {}).items():
        path = Path(folder) / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != info["bytes"] or sha256_file(path) != info["sha256"]:
            return f"{name} does not match its checksum (corrupted)"
    return None


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Finished checkpoint folders of a run, oldest step first (temp folders excluded)."""
    found = []
    for path in Path(run_dir).glob(f"{PREFIX}*"):
        suffix = path.name[len(PREFIX):]
        if path.is_dir() and suffix.isdigit():
            found.append((int(suffix), path))
    return [p for _, p in sorted(found)]


def latest_valid(run_dir: Path, log=print) -> Path | None:
    """The newest intact checkpoint; broken ones are reported through `log` and skipped."""
    for path in reversed(list_checkpoints(run_dir)):
        problem = verify(path)
        if problem is None:
            return path
        log(f"skipping {path.name}: {problem}")
    return None


def rotate(run_dir: Path, total_limit: int) -> None:
    """Keep the newest `total_limit` checkpoints (0 keeps all)."""
    if total_limit <= 0:
        return
    for old in list_checkpoints(run_dir)[:-total_limit]:
        shutil.rmtree(old, ignore_errors=True)


def load_state(folder: Path) -> dict:
    """The optimizer/scheduler/RNG/progress state of a verified checkpoint; raise if it is broken."""
    problem = verify(folder)
    if problem is not None:
        raise UserError(f"checkpoint {folder} cannot be resumed: {problem}; "
                        "pick another checkpoint-<step> folder of the run, or start a new run")
    # Our own file, written by save() above: it holds numpy RNG state, so weights_only is off.
    return torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=False)
