"""`training.keep_best: eval_loss`: the final model is the checkpoint with the lowest eval loss
(HF Trainer's `load_best_model_at_end`), not the last step's.

`KeepBest` is a callback: every evaluation also writes a checkpoint; when its eval loss beats the
best so far, the checkpoint's weights are kept in `<run>/best/` and `<run>/best.json` records the
step (so rotation cannot delete them and a resumed run knows the best so far). At the end of a
finished run the run folder's weights are replaced by the best ones. Must not import gradio,
torch or the history module.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

from core.train.callbacks import Callback, TrainControl, TrainState

BEST_DIR, BEST_FILE = "best", "best.json"
# The files that make up the weights and architecture of a saved transformers model.
MODEL_GLOBS = ("model*.safetensors", "model.safetensors.index.json", "config.json", "generation_config.json")


@dataclass(frozen=True)
class BestRecord:
    """The kept checkpoint: its step, the metric and its value."""

    step: int
    metric: str
    value: float


def read_best(run_dir: Path) -> BestRecord | None:
    """The run's best checkpoint so far (`best.json`), or None when none was kept."""
    path = Path(run_dir) / BEST_FILE
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    return BestRecord(step=int(raw["step"]), metric=str(raw["metric"]), value=float(raw["value"]))


def _model_files(folder: Path) -> list[Path]:
    return sorted({p for pattern in MODEL_GLOBS for p in folder.glob(pattern) if p.is_file()})


def _copy_in(files: list[Path], target: Path) -> None:
    """Each file into `target` by a temporary name and a rename: a crash leaves old or new, never half."""
    target.mkdir(parents=True, exist_ok=True)
    for src in files:
        tmp = target / f".{src.name}.tmp-{os.getpid()}"
        shutil.copyfile(src, tmp)
        os.replace(tmp, target / src.name)


class KeepBest(Callback):
    """Keeps the weights of the checkpoint with the lowest `metric`; see the module docstring."""

    def __init__(self, run_dir: Path, metric: str = "eval_loss"):
        self.run_dir, self.metric = Path(run_dir), metric
        self.best = read_best(self.run_dir)  # a resumed run continues its comparison
        self._pending: tuple[int, float] | None = None

    def on_evaluate(self, state: TrainState, control: TrainControl, metrics: Mapping[str, float]) -> None:
        if self.metric in metrics:
            self._pending = (state.step, float(metrics[self.metric]))
            control.should_save = True  # as HF, a candidate must be a checkpoint

    def on_save(self, state: TrainState, control: TrainControl, path: Path) -> None:
        if self._pending is None or self._pending[0] != state.step:
            return
        step, value = self._pending
        self._pending = None
        if self.best is not None and not value < self.best.value:
            return
        self.best = BestRecord(step=step, metric=self.metric, value=value)
        if state.is_main:
            _copy_in(_model_files(Path(path)), self.run_dir / BEST_DIR)
            record = self.run_dir / BEST_FILE
            record.with_suffix(".tmp").write_text(json.dumps(asdict(self.best), indent=1) + "\n", encoding="utf-8")
            os.replace(record.with_suffix(".tmp"), record)

    def on_train_end(self, state: TrainState, control: TrainControl, status: str) -> None:
        if status != "finished" or not state.is_main or self.best is None:
            return
        best_dir = self.run_dir / BEST_DIR
        _copy_in(_model_files(best_dir), self.run_dir)
        print(f"keep_best: the final model is step {self.best.step}'s ({self.metric} {self.best.value:.4f})", flush=True)
