"""core.train.machine: precision and compile fall back where this machine lacks them, and the
deterministic CPU kernels of a compiled run leave the caller's settings as they were."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from core import config
from core.train import machine
from core.train.machine import make_accelerator

OVERRIDES = ["data.train_path=syn", "data.tokenizer_path=tok", "training.max_steps=24"]


def test_machine_fallback_keeps_fp16_yaml_running_on_cpu(ready_workspace, tmp_path, monkeypatch):
    monkeypatch.setattr(machine, "cpu_can_compile", lambda: False)  # a container without g++
    cfg = config.load(overrides=[*OVERRIDES, "--fp16", "--torch-compile"])
    with pytest.warns(UserWarning):
        accelerator, safe, notes = make_accelerator(cfg)
    assert accelerator.mixed_precision == "no" and not safe.training.torch_compile and len(notes) == 2
    assert "C++ compiler" in notes[1]
    assert dataclasses.asdict(cfg)["training"]["fp16"] is True


def test_torch_compile_stays_on_for_a_cpu_with_a_compiler(monkeypatch):
    monkeypatch.setattr(machine, "cpu_can_compile", lambda: True)
    _, safe, notes = make_accelerator(config.load(overrides=[*OVERRIDES, "--torch-compile"]))
    assert safe.training.torch_compile and notes == []


@pytest.mark.parametrize("strict", [False, True])
def test_ordered_cpu_kernels_restore_the_callers_settings_even_on_errors(strict):
    before = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.utils.deterministic.fill_uninitialized_memory,
    )
    torch.use_deterministic_algorithms(strict)
    try:
        with pytest.raises(RuntimeError, match="boom"), machine.ordered_cpu_kernels(True):
            assert torch.are_deterministic_algorithms_enabled()
            # A caller's strict mode stays strict; otherwise only warnings, never errors.
            assert torch.is_deterministic_algorithms_warn_only_enabled() is not strict
            assert torch.utils.deterministic.fill_uninitialized_memory is False
            raise RuntimeError("boom")
        assert torch.are_deterministic_algorithms_enabled() is strict
        assert torch.utils.deterministic.fill_uninitialized_memory is before[2]
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
