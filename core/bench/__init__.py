"""Benchmarks of the engine: `bench train` times our training loop against transformers.Trainer.

`run.py` orchestrates (data, processes, rounds, report), `side.py` is the process of one side,
`flops.py` counts FLOPs and measures the machine, `gemm_ceiling.py` replays one step's matrix
products alone, `cli.py` times the CLI's start-up. Must not import gradio.
"""
from __future__ import annotations


def require_at_least_one(options, names) -> None:
    """Raise a UserError naming the flag when one of the integer options `names` is below 1."""
    from core.errors import UserError

    for name in names:
        if getattr(options, name) < 1:
            raise UserError(f"--{name.replace('_', '-')}: {getattr(options, name)} must be at least 1")
