"""The loop's side of checkpoints: a resumed run's weights, optimizer, schedule, RNG and counters
put back, and a step's checkpoint saved across processes (the main one writes, all wait).
The files themselves are core.train.checkpoint's. Must not import gradio or core.history."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from core.config import TrainingConfig
from core.train import checkpoint as ckpt
from core.train.machine import unwrap


def restore(folder: Path, lm, optimizer, scheduler) -> ckpt.Progress:
    """Load checkpoint `folder` into the plain LM, optimizer and scheduler, set the RNG states, and
    return the counters and data position: an exact continuation."""
    state = ckpt.load_state(folder)
    load_weights(lm, folder)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    ckpt.set_rng_state(state["rng"])
    return ckpt.Progress(**state["progress"])


def load_weights(model, folder: Path) -> None:
    """Load a checkpoint's safetensors into `model`; only a tied output layer may be absent."""
    from safetensors.torch import load_file

    state = {}
    for part in sorted(Path(folder).glob("model*.safetensors")):
        state.update(load_file(str(part)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
    if unexpected or set(missing) - tied:
        raise ValueError(
            f"checkpoint {folder} does not fit this model: missing {sorted(set(missing) - tied)}, unexpected {sorted(unexpected)}"
        )
    model.tie_weights()


def save_step(
    accelerator,
    model,
    tokenizer,
    optimizer,
    scheduler,
    progress: ckpt.Progress,
    config_dict: dict,
    run_dir: Path,
    t: TrainingConfig,
    *,
    words_seen: int,
    marks: list[str],
) -> Path:
    """Checkpoint this step (the main process writes, keeping `t.save_total_limit`; word marks
    `marks` become chck_ copies); every process waits for it and gets its path."""
    path = Path(run_dir) / f"{ckpt.PREFIX}{progress.step}"
    if accelerator.is_main_process:
        path = ckpt.save(
            run_dir,
            unwrap(accelerator, model),
            tokenizer,
            optimizer,
            scheduler,
            replace(progress),
            config_dict,
            total_limit=t.save_total_limit,
            words_seen=words_seen,
            marks=marks,
        )
        for name in marks:
            print(f"saved {name} (step {progress.step}, {words_seen:,} words seen)", flush=True)
    accelerator.wait_for_everyone()
    return path
