"""Models: building one from `ModelConfig` and sizing it without building (`build`), and where
models live on disk, found by run name or path (`folders`). Nothing here imports gradio or studio.
"""
