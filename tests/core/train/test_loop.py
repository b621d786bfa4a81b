"""core.train.loop in-process: learning happens, resume is bit-exact, callbacks steer the run."""

from __future__ import annotations

import warnings

import pytest
import torch
from safetensors.torch import load_file

from core import config
from core.train import checkpoint as ckpt
from core.train.callbacks import Callback, StopAfter
from core.train.data import load_train_data
from core.train.loop import TrainingDiverged, train
from core.train.machine import make_accelerator

OVERRIDES = [
    "data.train_path=syn",
    "data.tokenizer_path=tok",
    "training.max_steps=24",
    "training.logging_steps=4",
    "training.save_steps=8",
    "training.eval_steps=12",
    "training.save_total_limit=0",
    "model.dropout=0.1",
]  # dropout: the RNG state matters


class Recorder(Callback):
    def __init__(self):
        self.logs, self.evals, self.samples, self.saves = {}, {}, [], []

    def on_log(self, state, control, logs):
        self.logs[state.step] = dict(logs)

    def on_evaluate(self, state, control, metrics):
        self.evals[state.step] = dict(metrics)

    def on_samples(self, state, control, samples):
        self.samples.append((state.step, samples))

    def on_save(self, state, control, path):
        self.saves.append(state.step)


def _run(ws, run_dir, extra=(), callbacks=(), resume_from=None):
    from core.config import load
    from core.config.presets import find

    cfg = load(find("tiny"), [*OVERRIDES, *extra])
    data, tokenizer = load_train_data(cfg, ws)
    rec = Recorder()
    status = train(
        cfg, data, tokenizer, run_dir, [rec, *callbacks], resume_from=resume_from, accelerator=make_accelerator(cfg)[0]
    )
    return status, rec


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def test_loss_falls_and_outputs_load_in_transformers(ready_workspace, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    status, rec = _run(ready_workspace, tmp_path / "run")
    assert status == "finished"
    losses = [rec.logs[s]["loss"] for s in sorted(rec.logs)]
    assert losses[-1] < losses[0] - 0.5
    assert sorted(rec.evals) == [12, 24] and rec.evals[24]["eval_loss"] < rec.evals[12]["eval_loss"]
    assert rec.saves == [8, 16, 24] and len(rec.samples) == 2
    for folder in (tmp_path / "run", tmp_path / "run" / "checkpoint-16"):
        model = AutoModelForCausalLM.from_pretrained(folder)
        tok = AutoTokenizer.from_pretrained(folder)
        assert model.config.num_hidden_layers == 2 and tok.eos_token == "</s>"
        assert (folder / "config.yaml").is_file()
    assert ckpt.verify(tmp_path / "run" / "checkpoint-24") is None


def test_resume_is_bit_exact_and_negative_control_differs(ready_workspace, tmp_path):
    _, straight = _run(ready_workspace, tmp_path / "a")
    status, first = _run(ready_workspace, tmp_path / "b", callbacks=[StopAfter(10)])
    assert status == "stopped" and first.saves[-1] == 10  # a stop writes a checkpoint
    status, second = _run(ready_workspace, tmp_path / "b", resume_from=tmp_path / "b" / "checkpoint-10")
    assert status == "finished"
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)  # zero tolerance on CPU
    resumed_losses = {**{s: v for s, v in first.logs.items() if s <= 8}, **second.logs}
    assert {s: v["loss"] for s, v in resumed_losses.items()} == {s: v["loss"] for s, v in straight.logs.items()}

    # Negative control: the same checkpoint without its RNG state and data position.
    bad = tmp_path / "c" / "checkpoint-10"
    bad.parent.mkdir()
    import shutil

    shutil.copytree(tmp_path / "b" / "checkpoint-10", bad)
    state = torch.load(bad / ckpt.STATE_FILE, weights_only=False)
    state["progress"].update(batch_in_epoch=0, epoch=0)
    torch.manual_seed(1234)
    state["rng"] = ckpt.rng_state()
    torch.save(state, bad / ckpt.STATE_FILE)
    (bad / ckpt.MANIFEST).unlink()
    ckpt._write_manifest(bad, ckpt.Progress(step=10))
    _run(ready_workspace, tmp_path / "c", resume_from=bad)
    c = _weights(tmp_path / "c")
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_divergence_raises(ready_workspace, tmp_path):
    with pytest.raises(TrainingDiverged):
        _run(
            ready_workspace,
            tmp_path / "nan",
            extra=["training.lr=1e4", "training.max_grad_norm=0", "training.warmup_steps=0", "training.max_steps=40"],
        )


def test_gradient_accumulation_matches_bigger_batch(ready_workspace, tmp_path):
    """batch 8 x accumulation 2 takes the same first step as batch 16 (same sequences, same mean)."""
    _, big = _run(
        ready_workspace,
        tmp_path / "big",
        extra=["training.batch_size=16", "training.max_steps=1", "training.logging_steps=1", "model.dropout=0"],
    )
    _, acc = _run(
        ready_workspace,
        tmp_path / "acc",
        extra=[
            "training.batch_size=8",
            "training.max_steps=1",
            "training.gradient_accumulation_steps=2",
            "training.logging_steps=1",
            "model.dropout=0",
        ],
    )
    assert acc.logs[1]["loss"] == pytest.approx(big.logs[1]["loss"], rel=1e-5)
    wa, wb = _weights(tmp_path / "big"), _weights(tmp_path / "acc")
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)


def test_bf16_on_cpu_trains_in_bf16_where_the_cpu_has_it_else_falls_back(ready_workspace, tmp_path):
    from core.train.machine import cpu_has_bf16

    native = cpu_has_bf16()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        accelerator, safe, notes = make_accelerator(config.load(overrides=[*OVERRIDES, "--bf16"]))
    assert safe.training.bf16 == native and bool(notes) != native
    assert accelerator.mixed_precision == ("bf16" if native else "no")
    status, rec = _run(ready_workspace, tmp_path / "bf16", extra=["--bf16"])
    losses = [rec.logs[s]["loss"] for s in sorted(rec.logs)]
    assert status == "finished" and losses[-1] < losses[0] - 0.5
    assert _weights(tmp_path / "bf16")["model.embed_tokens.weight"].dtype == torch.float32  # fp32 master weights


@pytest.mark.slow
def test_compiled_training_learns_resumes_bit_exact_and_saves_a_plain_model(ready_workspace, tmp_path, cxx):
    """torch_compile on CPU: the compiled body trains like the eager one, a stopped + resumed run
    (dropout on: the compiled kernels' RNG counts too) ends with exactly the weights of a straight
    one, and the saved folder is a plain model."""
    from torch._dynamo.utils import counters
    from transformers import AutoModelForCausalLM

    _, eager = _run(ready_workspace, tmp_path / "eager", extra=["model.dropout=0"])
    counters.clear()
    _, compiled = _run(ready_workspace, tmp_path / "compiled", extra=["model.dropout=0", "--torch-compile"])
    # The compiled body ran (dynamo compiled a graph of it) and trains like eager. Its fused kernels
    # sum in another order, but at this size the losses may still come out bit-equal, so equality
    # is no evidence either way.
    assert counters["stats"]["unique_graphs"] >= 1
    assert compiled.logs.keys() == eager.logs.keys()
    for step, logs in eager.logs.items():
        assert compiled.logs[step]["loss"] == pytest.approx(logs["loss"], rel=1e-3), step
    assert not torch.are_deterministic_algorithms_enabled()  # the run's flag did not outlive it

    _run(ready_workspace, tmp_path / "a", extra=["--torch-compile"])
    status, _ = _run(ready_workspace, tmp_path / "b", extra=["--torch-compile"], callbacks=[StopAfter(10)])
    assert status == "stopped"
    _run(ready_workspace, tmp_path / "b", extra=["--torch-compile"], resume_from=tmp_path / "b" / "checkpoint-10")
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert set(a) == set(_weights(tmp_path / "eager"))  # the same keys: no "_orig_mod." prefixes
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "a").config.num_hidden_layers == 2
