"""core.train.order: the blocks of an epoch depend on (seed, epoch) only; random offsets shift
each block inside the token stream, differently per seed, and a killed run resumes bit-exact;
`training.dataloader_num_workers` gathers the same batches in worker processes."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from core import config, jobs
from core.config.presets import find
from core.train.callbacks import StopAfter
from core.train.order import EpochBlocks, epoch_batches, usable_blocks

SEQ = 8


def _blocks(n: int = 50) -> torch.Tensor:
    return torch.arange(n * SEQ).reshape(n, SEQ)  # token t sits at stream position t


def test_without_offsets_the_order_is_the_seeded_permutation_of_every_block():
    blocks = _blocks()
    epoch = EpochBlocks(blocks, seed=3, epoch=1)
    gen = torch.Generator().manual_seed(3 * 1_000_003 + 1)
    assert torch.equal(epoch.order, torch.randperm(50, generator=gen))  # what runs before this issue drew
    assert torch.equal(epoch.take(0, 50), blocks[epoch.order]) and len(epoch) == 50


def test_random_offsets_are_contiguous_shifted_pieces_of_the_stream():
    epoch = EpochBlocks(_blocks(), seed=3, epoch=0, random_offset=True)
    got = epoch.take(0, len(epoch))
    assert len(epoch) == usable_blocks(50, True) == 49  # the last block has no room to shift
    starts = got[:, 0]
    assert torch.equal(got, starts[:, None] + torch.arange(SEQ))  # consecutive tokens
    offsets = starts - epoch.order * SEQ
    assert offsets.min() >= 0 and offsets.max() < SEQ and len(set(offsets.tolist())) > SEQ // 2
    assert sorted(epoch.order.tolist()) == list(range(49))  # each block once


def test_same_seed_same_blocks_other_seed_or_epoch_other_blocks():
    def take(seed, epoch):
        return EpochBlocks(_blocks(), seed=seed, epoch=epoch, random_offset=True).take(0, 16)

    assert torch.equal(take(1, 0), take(1, 0))
    assert not torch.equal(take(1, 0), take(2, 0))
    assert not torch.equal(take(1, 0), take(1, 1))
    # Same permutation with and without offsets: only the shifts differ.
    plain = EpochBlocks(_blocks(), seed=1, epoch=0)
    shifted = EpochBlocks(_blocks(), seed=1, epoch=0, random_offset=True)
    assert not torch.equal(plain.take(0, 16), shifted.take(0, 16))


def test_worker_processes_gather_the_same_batches_in_the_same_order():
    def batches(workers):
        return list(epoch_batches(_blocks(), 5, 2, True, start=3, stop=12, batch_size=2, world=2, rank=1, num_workers=workers))

    inline, gathered = batches(0), batches(2)
    epoch = EpochBlocks(_blocks(), seed=5, epoch=2, random_offset=True)
    assert len(inline) == 9 and torch.equal(inline[0], epoch.take(3 * 2 * 2 + 2, 2))  # rank 1's half of batch 3
    assert all(torch.equal(a, b) for a, b in zip(inline, gathered, strict=True))
    # Tensors sent back by worker processes arrive in shared memory; gathered inline they do not.
    assert all(b.is_shared() for b in gathered) and not any(b.is_shared() for b in inline)


def test_a_run_with_dataloader_workers_trains_on_the_same_batches(ready_workspace, tmp_path):
    from tests.core.train.test_loop import _run, _weights

    extra = ["data.random_offset=true", "training.batch_size=64", "training.max_steps=22"]  # crosses an epoch
    status, inline = _run(ready_workspace, tmp_path / "a", extra)
    assert status == "finished"
    _, workers = _run(ready_workspace, tmp_path / "b", [*extra, "training.dataloader_num_workers=2"])
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [inline.logs[s]["loss"] for s in sorted(inline.logs)] == [workers.logs[s]["loss"] for s in sorted(workers.logs)]


def test_a_run_with_random_offsets_resumes_bit_exact_across_an_epoch(ready_workspace, tmp_path):
    from tests.core.train.test_loop import _run, _weights

    extra = ["data.random_offset=true", "training.batch_size=64"]  # 20 steps per epoch of tiny's data
    _, straight = _run(ready_workspace, tmp_path / "a", extra)
    status, first = _run(ready_workspace, tmp_path / "b", extra, callbacks=[StopAfter(10)])
    assert status == "stopped"
    _, second = _run(ready_workspace, tmp_path / "b", extra, resume_from=tmp_path / "b" / "checkpoint-10")
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert straight.logs[24]["epoch"] > 1  # the resumed part crossed into a new epoch's offsets
    _, plain = _run(ready_workspace, tmp_path / "d", ["training.batch_size=64", "training.max_steps=4"])
    assert straight.logs[4]["loss"] != plain.logs[4]["loss"]  # the offsets change what is trained on


@pytest.mark.slow
def test_kill_9_and_resume_with_random_offsets_is_bit_exact(ready_workspace, history):
    from tests.core.jobs.test_lifecycle import _final, _wait

    cfg = config.load(
        find("tiny"),
        [
            "data.train_path=syn",
            "data.tokenizer_path=tok",
            "data.random_offset=true",
            "training.logging_steps=5",
            "training.eval_steps=0",
            "training.save_steps=10",
            "training.max_steps=40",
            "model.dropout=0.1",
        ],
    )
    # Generous waits: on a shared 2-core machine (load 9) one 40-step tiny run took over 120 s.
    jobs.start("train", cfg, ready_workspace, history, name="straight")
    assert _final(history, "straight", timeout=450).status == "finished"
    jobs.start("train", cfg, ready_workspace, history, name="killed")
    run = _wait(history, "killed", lambda r: r.status == "running" and (r.step or 0) >= 25, timeout=450)
    os.killpg(run.pid, signal.SIGKILL)
    assert _wait(history, "killed", lambda r: r.status != "running", timeout=10).status == "lost"
    # Killed past step 25: a checkpoint of step 20 or later is what the resume continues from (not step 0).
    kept = [int(p.name.split("-")[1]) for p in Path(run.run_dir).glob("checkpoint-*")]
    assert kept and max(kept) >= 20 and max(kept) < 40
    jobs.resume("killed", ready_workspace, history)
    assert _final(history, "killed", timeout=450).status == "finished"
    a = load_file(str(ready_workspace.models_dir / "straight" / "model.safetensors"))
    b = load_file(str(ready_workspace.models_dir / "killed" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert history.metric_series("killed", "loss") == history.metric_series("straight", "loss")
