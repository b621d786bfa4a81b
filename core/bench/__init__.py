"""The benchmarks a user runs: `bench train`, `bench eval`, `bench generate`, `bench studio` and
`bench submission` (one-off investigations live in the checkout's `benchmarks/`, not shipped).

`run.py` orchestrates bench train (data, processes, rounds, report), `side.py` is the process of one
side, `flops.py` counts FLOPs and measures the machine, `browser.py` drives the studio in chromium.
Must not import gradio or studio.
"""

from __future__ import annotations


def require_at_least_one(options, names) -> None:
    """Raise a UserError naming the flag when one of the integer options `names` is below 1."""
    from core.errors import UserError

    for name in names:
        if getattr(options, name) < 1:
            raise UserError(f"--{name.replace('_', '-')}: {getattr(options, name)} must be at least 1")
