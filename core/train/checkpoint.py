"""Resumable checkpoints: model + tokenizer (loadable by transformers), optimizer, scheduler,
RNG states, data position, counters and the resolved config, written atomically.

A checkpoint is complete only when its `checkpoint.json` manifest (sizes and SHA-256 of every
file) is present and matches; anything else is skipped with a message, never loaded. Folders are
swapped in by rename (`.<name>.tmp-<pid>` written, `.<name>.old-<pid>` set aside, `.<name>.del-<pid>`
being removed), so a crash leaves a dot-folder that `clean_stale` removes or puts back.
`chck_*` folders (the BabyLM word marks) are hard-linked copies of a checkpoint, never rotated.
Must not import gradio or the history module.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import yaml

from core.errors import DiskFull, UserError, find_disk_full
from core.hashing import sha256_file
from core.model.folders import CHECKPOINT_PREFIX as PREFIX
from core.model.folders import list_checkpoints  # noqa: F401  (part of this module's API: rotation, resume)
from core.portable import make_portable

MANIFEST = "checkpoint.json"
STATE_FILE = "training_state.pt"
MARK_PREFIX = "chck_"
# `.checkpoint-10.tmp-4242`, `.chck_1M.old-4242`: a folder in flight, and the pid that owns it.
_IN_FLIGHT = re.compile(rf"^\.((?:{PREFIX}|{MARK_PREFIX})[^/]+)\.(tmp|old|del)-(\d+)$")


@dataclass
class Progress:
    """Counters that place a run exactly: optimizer step, epoch and next batch within it."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0  # index of the next global batch in this epoch's order
    tokens_seen: int = 0
    window_loss: float = 0.0  # loss summed since the last log (rank 0), so a resumed run
    window_steps: int = 0  # logs the same mean as an uninterrupted one


def rng_state() -> dict:
    """Every random generator the loop touches (python, numpy, torch CPU and CUDA), as tensors and
    plain types only, so `torch.load(weights_only=True)` reads it back."""
    numpy = np.random.get_state(legacy=False)
    numpy["state"]["key"] = torch.from_numpy(numpy["state"]["key"].astype(np.int64))
    state = {"python": random.getstate(), "numpy": numpy, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    numpy = state["numpy"]
    if isinstance(numpy, dict):  # ours since the weights_only change; older files hold numpy's tuple
        numpy = {**numpy, "state": {**numpy["state"], "key": numpy["state"]["key"].numpy().astype(np.uint32)}}
    np.random.set_state(numpy)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(
    run_dir: Path,
    model,
    tokenizer,
    optimizer,
    scheduler,
    progress: Progress,
    config: dict,
    *,
    total_limit: int = 0,
    words_seen: int | None = None,
    marks: Sequence[str] = (),
    log=print,
) -> Path:
    """Write `checkpoint-<step>/` atomically (temp folder, manifest last, rename) and rotate.

    `marks` (`chck_1M`, ...) are hard-linked copies made before the checkpoint appears: a crash
    before that point redoes the step and its marks; after it, both exist."""
    clean_stale(run_dir, log=log)
    final = Path(run_dir) / f"{PREFIX}{progress.step}"
    tmp = _in_flight(final, "tmp")
    try:
        tmp.mkdir(parents=True)
        save_model_folder(tmp, model, tokenizer, config)
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": rng_state(),
                "progress": asdict(progress),
            },
            tmp / STATE_FILE,
        )
        _write_manifest(tmp, progress, words_seen=words_seen)
        for name in marks:
            save_mark(tmp, name)
    except BaseException as err:
        # The half-written folder goes (it holds the space a full disk needs); the checkpoints
        # saved before stay as they are, the newest one is what a resume continues from.
        shutil.rmtree(tmp, ignore_errors=True)
        if find_disk_full(err) is not None:
            raise DiskFull(str(final)) from err
        raise
    _swap_in(tmp, final)
    rotate(run_dir, total_limit)
    return final


def save_mark(checkpoint: Path, name: str) -> Path:
    """`<run>/<name>/` (a `chck_*` word mark): the same files as `checkpoint`, hard-linked (no
    copy; checkpoint files are never modified in place), swapped in atomically."""
    final = Path(checkpoint).parent / name
    tmp = _in_flight(final, "tmp")
    shutil.rmtree(tmp, ignore_errors=True)  # ours, from a save of this process that failed
    tmp.mkdir()
    for path in Path(checkpoint).iterdir():
        try:
            os.link(path, tmp / path.name)
        except OSError:  # a file system without hard links
            shutil.copy2(path, tmp / path.name)
    _swap_in(tmp, final)
    return final


def _in_flight(final: Path, kind: str) -> Path:
    return final.parent / f".{final.name}.{kind}-{os.getpid()}"


def _swap_in(tmp: Path, final: Path) -> None:
    """Rename `tmp` to `final`. An existing `final` (re-saving a step: a stop right after a periodic
    save) is set aside first and deleted last, so there is always a complete one to resume: after a
    crash in between, `clean_stale` puts the set-aside one back."""
    if not final.exists():
        os.replace(tmp, final)
        return
    aside = _in_flight(final, "old")
    os.replace(final, aside)
    try:
        os.replace(tmp, final)
    except BaseException:
        os.replace(aside, final)
        raise
    shutil.rmtree(aside)


def clean_stale(run_dir: Path, log=print) -> None:
    """Remove the dot-folders of interrupted saves whose writer is gone (another live process's
    are left alone); a set-aside `.old` folder whose checkpoint is missing is put back instead."""
    for path in sorted(Path(run_dir).glob(".*-*")):
        match = _IN_FLIGHT.match(path.name)
        if not match or not path.is_dir() or _writer_alive(int(match.group(3)), path):
            continue
        final = path.parent / match.group(1)
        if match.group(2) == "old" and not final.exists():
            os.replace(path, final)
            log(f"restored {final.name} from {path.name} (a re-save was interrupted)")
        else:
            shutil.rmtree(path)
            log(f"removed {path.name} (left by an interrupted save)")


def _writer_alive(pid: int, folder: Path) -> bool:
    """Whether process `pid` may still be writing `folder`: it exists, and it started before the
    folder was last changed (a pid reused by a newer process does not count)."""
    if pid == os.getpid():
        return False  # this process saves one folder at a time, and is not saving now
    import psutil

    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        return False
    return started <= folder.stat().st_mtime + 1.0


def save_model_folder(folder: Path, model, tokenizer, config: dict) -> None:
    """What `AutoModelForCausalLM` / `AutoTokenizer` load, plus the resolved run config."""
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    make_portable(folder)  # loads in the BabyLM pipeline's transformers 4.51.3 too (core/portable.py)
    # A run that cannot record its config must fail, not train on unrecorded settings.
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def _write_manifest(folder: Path, progress: Progress, words_seen: int | None = None) -> None:
    files = {p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in sorted(folder.iterdir()) if p.is_file()}
    manifest = {"step": progress.step, "tokens_seen": progress.tokens_seen, "time": time.time(), "files": files}
    if words_seen is not None:
        manifest["words_seen"] = words_seen
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


def latest_valid(run_dir: Path, log=print) -> Path | None:
    """The newest intact checkpoint; broken ones are reported through `log` and skipped (and the
    leftovers of interrupted saves cleaned first: a set-aside checkpoint may come back)."""
    clean_stale(run_dir, log=log)
    for path in reversed(list_checkpoints(run_dir)):
        problem = verify(path)
        if problem is None:
            return path
        log(f"skipping {path.name}: {problem}")
    return None


def skipped_notes(run_dir: Path, chosen: Path) -> list[str]:
    """What resuming from `chosen` leaves behind: each newer checkpoint and why it cannot be
    resumed, and how many steps are redone (empty when `chosen` is the newest)."""
    step = _step_of(chosen)
    newer = [p for p in list_checkpoints(run_dir) if step is not None and _step_of(p) > step]
    notes = [f"skipped {p.name}: {verify(p) or 'intact, but an older checkpoint was chosen'}" for p in newer]
    if newer:
        redo = _step_of(newer[-1]) - step
        notes.append(f"resuming from {Path(chosen).name}: {redo} step(s) after it, up to {newer[-1].name}, are redone")
    return notes


def _step_of(folder: Path) -> int | None:
    suffix = Path(folder).name[len(PREFIX) :]
    return int(suffix) if Path(folder).name.startswith(PREFIX) and suffix.isdigit() else None


def rotate(run_dir: Path, total_limit: int) -> None:
    """Keep the newest `total_limit` complete checkpoints (0 keeps all). A folder without a manifest
    (copied by hand, or from an old crash) takes no slot and is left alone; `chck_*` never rotate.
    A folder is renamed aside before it is removed, so a crash never leaves half a checkpoint."""
    if total_limit <= 0:
        return
    complete = [p for p in list_checkpoints(run_dir) if (p / MANIFEST).is_file()]
    for old in complete[:-total_limit]:
        doomed = _in_flight(old, "del")
        os.replace(old, doomed)
        shutil.rmtree(doomed)


def load_state(folder: Path) -> dict:
    """The optimizer/scheduler/RNG/progress state of a verified checkpoint; raise if it is broken."""
    problem = verify(folder)
    if problem is not None:
        raise UserError(
            f"checkpoint {folder} cannot be resumed: {problem}; "
            "pick another checkpoint-<step> folder of the run, or start a new run"
        )
    # weights_only: tensors and plain types only, never code. Files written before rng_state()
    # stored numpy's state as plain types hold a numpy array: its three reconstruction globals are
    # allowed, nothing else (an object whose pickle would run code is refused).
    try:
        with torch.serialization.safe_globals(_NUMPY_ARRAY_GLOBALS):
            return torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"checkpoint {folder}: {STATE_FILE} holds more than tensors and plain data "
            f"and was not loaded ({first}); resume from a checkpoint this program wrote"
        ) from None


_np_core = getattr(np, "_core", None) or np.core  # numpy 2 renamed numpy.core
_NUMPY_ARRAY_GLOBALS = [_np_core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]
