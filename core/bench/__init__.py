"""Benchmarks of the engine: `bench train` times our training loop against transformers.Trainer.

`run.py` orchestrates (data, processes, rounds, report), `side.py` is the process of one side,
`flops.py` counts FLOPs and measures the machine. Must not import gradio.
"""
