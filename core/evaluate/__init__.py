"""Evaluation of trained models: perplexity and bits per byte, generation metrics, cloze, BLiMP-style
minimal pairs, speed, and the BabyLM 2025 zero-shot suite as the official pipeline scores it
(`core.evaluate.babylm`); results as JSON, plots and one self-contained HTML report.

`core.evaluate.runner.run_eval` is the entry point the CLI, the worker and the studio share.
Submodules import torch only when a function runs a model; nothing here imports gradio or studio.
"""

from __future__ import annotations

# The default suites of `babyllama eval`, in the order they run.
SUITES = ("ppl", "gen", "cloze", "pairs", "babylm", "speed")
# Suites that run only when named with --suite: AoA reads every chck_* checkpoint of a run, GLUE
# fine-tunes (hours on a CPU). They run after the default ones.
OPT_IN_SUITES = ("aoa", "glue")
ALL_SUITES = SUITES + OPT_IN_SUITES
