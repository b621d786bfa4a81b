"""BabyLlama Studio engine: config, data, tokenizer, models, training, history, jobs.

Nothing in `core` imports gradio or `studio`; the studio and the CLI are two faces of this package.
"""
