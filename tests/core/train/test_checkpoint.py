"""core.train.checkpoint's fault handling: a fallback is reported, stale temp folders are cleaned,
a checkpoint without a manifest takes no `save_total_limit` slot, re-saving a step never loses the
only checkpoint, and `training_state.pt` is loaded with weights_only (a pickle payload is refused).
Each test failed on the code before these changes (noted in each docstring)."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

from core.config import ModelConfig
from core.errors import UserError
from core.model.build import build_model
from core.train import checkpoint as ckpt


@pytest.fixture(scope="module")
def parts(data_template):
    from core.tokenizer import load_tokenizer

    torch.manual_seed(0)
    lm = build_model(ModelConfig(hidden_size=16, intermediate_size=32, n_layer=1, n_head=2, max_position_embeddings=32), 600)
    opt = torch.optim.AdamW(lm.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    return lm, load_tokenizer("tok", data_template), opt, sched


def _save(parts, run_dir, step, **kw):
    lm, tok, opt, sched = parts
    return ckpt.save(
        run_dir, lm, tok, opt, sched, ckpt.Progress(step=step, tokens_seen=step * 100), {"x": 1}, log=lambda m: None, **kw
    )


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _corrupt(path):
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 0xFF
    path.write_bytes(bytes(blob))


def test_fallback_names_the_skipped_checkpoint_the_reason_and_the_steps_redone(parts, tmp_path):
    """Before: latest_valid fell back silently (its notes went nowhere) and nothing counted the redone steps."""
    for step in (10, 20, 30):
        _save(parts, tmp_path, step)
    _corrupt(tmp_path / "checkpoint-30" / "model.safetensors")
    (tmp_path / "checkpoint-20" / ckpt.MANIFEST).unlink()
    chosen = ckpt.latest_valid(tmp_path, log=lambda m: None)
    assert chosen.name == "checkpoint-10"
    notes = ckpt.skipped_notes(tmp_path, chosen)
    assert notes[0].startswith("skipped checkpoint-20: no checkpoint.json manifest")
    assert notes[1] == "skipped checkpoint-30: model.safetensors does not match its checksum (corrupted)"
    assert "20 step(s)" in notes[2] and "checkpoint-30" in notes[2]
    assert ckpt.skipped_notes(tmp_path, tmp_path / "checkpoint-30") == []


def test_stale_temp_folders_are_cleaned_but_not_a_live_writers(parts, tmp_path):
    """Before: `.checkpoint-*.tmp-*` folders of crashed saves stayed forever."""
    dead = tmp_path / f".checkpoint-5.tmp-{_dead_pid()}"
    dead.mkdir()
    (dead / "model.safetensors").write_bytes(b"half")
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".checkpoint-6.tmp-{writer.pid}"
        live.mkdir()
        _save(parts, tmp_path, 10)
        assert not dead.exists() and live.is_dir()
    finally:
        writer.kill()
        writer.wait()
    ckpt.latest_valid(tmp_path, log=lambda m: None)  # resume time: the writer is gone now
    assert not live.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-10"]


def test_a_checkpoint_without_manifest_takes_no_slot(parts, tmp_path):
    """Before: rotation counted checkpoint-20 (no manifest) and deleted the valid checkpoint-10."""
    _save(parts, tmp_path, 10)
    _save(parts, tmp_path, 20)
    (tmp_path / "checkpoint-20" / ckpt.MANIFEST).unlink()
    _save(parts, tmp_path, 30, total_limit=2)
    assert ckpt.verify(tmp_path / "checkpoint-10") is None and ckpt.verify(tmp_path / "checkpoint-30") is None
    _save(parts, tmp_path, 40, total_limit=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["checkpoint-20", "checkpoint-30", "checkpoint-40"]


def test_resaving_a_step_never_loses_the_only_checkpoint(parts, tmp_path, monkeypatch):
    """Before: the old folder was deleted before the rename, so a failure in between left none."""
    _save(parts, tmp_path, 10)
    real = os.replace

    def failing(src, dst):
        if ".tmp-" in str(src):
            raise OSError("disk gone")
        return real(src, dst)

    monkeypatch.setattr(ckpt.os, "replace", failing)
    with pytest.raises(OSError, match="disk gone"):
        _save(parts, tmp_path, 10)
    monkeypatch.setattr(ckpt.os, "replace", real)
    assert ckpt.verify(tmp_path / "checkpoint-10") is None
    # A crash (no `except` ran) between setting the old one aside and renaming the new one in.
    os.replace(tmp_path / "checkpoint-10", tmp_path / f".checkpoint-10.old-{_dead_pid()}")
    assert ckpt.latest_valid(tmp_path, log=lambda m: None) == tmp_path / "checkpoint-10"
    assert ckpt.verify(tmp_path / "checkpoint-10") is None


def test_training_state_loads_with_weights_only_and_restores_every_rng(parts, tmp_path):
    """Before: the numpy RNG state was a numpy array, which `weights_only=True` refuses."""
    np.random.seed(7)
    random.seed(7)
    folder = _save(parts, tmp_path, 10)
    expected = (np.random.rand(), random.random(), torch.rand(1).item())
    state = torch.load(folder / ckpt.STATE_FILE, weights_only=True)  # plain torch, no allowlist
    ckpt.set_rng_state(ckpt.load_state(folder)["rng"])
    assert (np.random.rand(), random.random(), torch.rand(1).item()) == expected
    assert state["progress"]["step"] == 10


def test_a_checkpoint_written_before_the_change_still_resumes(parts, tmp_path):
    folder = _save(parts, tmp_path, 10)
    state = torch.load(folder / ckpt.STATE_FILE, weights_only=True)
    np.random.seed(3)
    state["rng"]["numpy"] = np.random.get_state()  # the old format: numpy's tuple with an array
    expected = np.random.rand()
    torch.save(state, folder / ckpt.STATE_FILE)
    (folder / ckpt.MANIFEST).unlink()
    ckpt._write_manifest(folder, ckpt.Progress(step=10))
    ckpt.set_rng_state(ckpt.load_state(folder)["rng"])
    assert np.random.rand() == expected


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_with_a_payload_is_refused_even_with_a_matching_manifest(parts, tmp_path):
    """Before: weights_only=False ran the payload (the marker file appeared)."""
    folder = _save(parts, tmp_path, 10)
    marker = tmp_path / "pwned"
    state = torch.load(folder / ckpt.STATE_FILE, weights_only=True)
    state["evil"] = _Payload(marker)
    torch.save(state, folder / ckpt.STATE_FILE)
    (folder / ckpt.MANIFEST).unlink()
    ckpt._write_manifest(folder, ckpt.Progress(step=10))  # an attacker can write a matching manifest
    with pytest.raises(UserError, match="holds more than tensors and plain data"):
        ckpt.load_state(folder)
    assert not marker.exists()


def test_a_full_disk_mid_save_is_disk_full_and_leaves_the_last_checkpoint_alone(parts, tmp_path, monkeypatch):
    """Before: the ENOSPC OSError escaped and the half-written `.checkpoint-20.tmp-<pid>` stayed,
    holding the space a retry needs."""
    import errno

    from core.errors import DiskFull

    _save(parts, tmp_path, 10)

    def no_space(obj, path, *a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt.torch, "save", no_space)
    with pytest.raises(DiskFull, match="disk full") as caught:
        _save(parts, tmp_path, 20)
    assert caught.value.path == str(tmp_path / "checkpoint-20")
    assert not list(tmp_path.glob(".checkpoint-*")) and not (tmp_path / "checkpoint-20").exists()
    assert ckpt.verify(tmp_path / "checkpoint-10") is None
