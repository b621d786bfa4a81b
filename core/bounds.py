"""The largest values we accept for counts and sizes, each with its reason, and the argparse types
that enforce them, so config metadata, CLI flags, studio forms and the REST models share one source.
Standard library only: must not import torch, yaml, gradio or studio.
"""

from __future__ import annotations

import argparse
import math

INT64_SAFE = 2**53  # steps, tokens and words are SQLite int64 and float metric values: stay exact
MAX_STEPS = 10**9  # optimizer steps (and every "every N steps"): years of training at 10 steps/s
MAX_BATCH = 65_536  # sequences per micro-step (and micro-steps per optimizer step)
MAX_SEQ = 32_768  # tokens per sequence
MAX_POSITIONS = 131_072  # the model's position table
MAX_WIDTH = 65_536  # hidden / intermediate width: a 65536 x 65536 matrix is already 16 GiB in fp32
MAX_VOCAB = 1_048_576  # tokenizers' BPE trainer panics near 2**31; a 2**20 x 4096 embedding is 16 GiB
MAX_SEED = 2**32 - 1  # numpy's RandomState takes seeds below 2**32
MAX_EPOCHS = 100_000
MAX_ITEMS = 10**9  # sequences / pairs / items evaluated
MAX_SYNTH_WORDS = 200_000_000  # `data synth` builds its text in memory (~6 B a word); strict track = 100M
MAX_NEW_TOKENS = 1_000_000
MAX_PROCESSES = 1_024  # `--num-processes`: GPUs of one accelerate launch
MAX_TRIALS = 10_000  # random draws per sweep grid point: each is a training run
MAX_LR = 1e6  # AdamW diverges near 1e-1 (tests force it with 1e4); beyond 1e6 only a typo
MAX_GRAD_NORM = 1e6


def _show(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() and abs(value) < 1e18 else f"{value:g}"


def bounded(kind: type, lo: float | None = None, hi: float | None = None, *, lo_exclusive: bool = False):
    """An argparse `type=` that parses `kind` (int or float) and refuses values outside [lo, hi]
    with the allowed range; argparse names the flag (`argument --vocab-size: must be <= ...`) and
    exits 2, no traceback."""

    def parse(text: str):
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            word = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {word}, got {text[:40]!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text[:40]!r}")
        if lo is not None and (value < lo or (lo_exclusive and value <= lo)):
            raise argparse.ArgumentTypeError(f"must be {'>' if lo_exclusive else '>='} {_show(lo)}, got {_show(value)}")
        if hi is not None and value > hi:
            raise argparse.ArgumentTypeError(f"must be <= {_show(hi)}, got {_show(value)}")
        return value

    parse.__name__ = kind.__name__  # argparse's "invalid int value" wording
    return parse
