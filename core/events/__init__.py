"""History across machines: a run appends its history as events to `<run>/events.jsonl` (`log`)
through `EventHistory` (`sink`), and the machine running the studio or CLI applies them to
`studio.db` exactly once, in order (`ingest`). Must not import gradio, studio or torch.
"""
