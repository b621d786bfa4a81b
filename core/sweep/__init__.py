"""`babyllama sweep`: hyperparameter sweeps as queued runs. `spec` reads and checks a sweep YAML
and expands it into trials (grid x random draws); `runs` starts the trials as ordinary queued
runs, links them to the sweep and collects results; `plot` draws the metric against each
parameter. Must not import gradio.
"""

from __future__ import annotations
