"""Export a trained model for use outside the studio: a clean transformers folder with a model card
(`hf`), an ONNX decoder checked against PyTorch (`onnx`), that ONNX file quantized to int8 (`int8`), or
a BabyLM submission: the final model and every `chck_*` checkpoint, with upload commands (`babylm`).

`core.export.runner.run_export` is the entry the CLI, the worker (`export` jobs) and the studio share.
Submodules import torch / onnx only when a function runs; nothing here imports gradio or studio.
"""

from __future__ import annotations

# The formats `babyllama export --format` accepts.
FORMATS = ("hf", "onnx", "int8", "babylm")
