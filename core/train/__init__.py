"""Training: the loop (`loop`), its callbacks and loggers, the fused loss, checkpoints, distillation,
probes and trackers. The worker runs it; nothing here imports gradio or studio.
"""
