"""Assemble the studio's Blocks from the tab builders; the only place tabs meet.

Shared things (the workspace) travel in a `StudioContext`, never in module globals; job state
lives in SQLite, so every browser session sees the same runs.
"""

from __future__ import annotations

from importlib import import_module

import gradio as gr

from core.net import guard_middleware
from core.workspace import Workspace
from studio import api
from studio.context import StudioContext
from studio.panels import start_here

# (tab title, module under studio.tabs).
TABS = (
    ("Data", "data"),
    ("Tokenizer", "tokenizer"),
    ("Model", "model"),
    ("Train", "train"),
    ("Evaluate", "evaluate"),
    ("Compare", "compare"),
    ("Chat", "chat"),
)

CSS = """
.bl-badge { display: inline-block; }
footer { display: none !important; }
"""


# While idle, Gradio's queue looks for new events every 1 ms and for progress every 10 ms: 0.064
# cores of an idle studio with no browser attached on our 2-core VM, taken from a run training on
# the same CPU. 20 ms and 100 ms are invisible beside the dashboard's 1 s timer.
QUEUE_POLL_S, PROGRESS_POLL_S = 0.02, 0.1


def enable_queue(demo: gr.Blocks, concurrency: int = 4) -> gr.Blocks:
    """`demo.queue(...)` with the studio's concurrency, and the queue's idle polling slowed down."""
    demo.queue(default_concurrency_limit=concurrency)
    # Gradio 6.31 has no public setting for this (Blocks.queue takes status_update_rate, api_open,
    # max_size, default_concurrency_limit): the queue object's attributes are set directly, and
    # left alone if a later Gradio renames them.
    queue = getattr(demo, "_queue", None)
    if queue is not None and hasattr(queue, "sleep_when_free"):
        queue.sleep_when_free = max(queue.sleep_when_free, QUEUE_POLL_S)
        queue.progress_update_sleep_when_free = max(queue.progress_update_sleep_when_free, PROGRESS_POLL_S)
    return demo


def guarded(host: str, extra_hosts: tuple[str, ...] = ()) -> dict:
    """`launch(app_kwargs=...)` that puts core.net's Host and Origin checks in front of every route:
    Gradio's own CustomCORSMiddleware only withholds CORS headers (the request still runs) and
    accepts any Host, so a DNS-rebinding page could call /gradio_api/* from the user's browser."""
    return {"middleware": guard_middleware(host, extra_hosts)}


def build_app(workspace: Workspace) -> gr.Blocks:
    """The studio page for `workspace`."""
    ctx = StudioContext(workspace)
    with gr.Blocks(title="BabyLlama Studio") as demo:
        gr.Markdown(f"## BabyLlama Studio\n<small>workspace `{workspace.root}`</small>")
        start = start_here.build(ctx)  # "Start here": shown on an empty workspace only
        built, tab_of = {}, {}
        with gr.Tabs() as tabs:
            for title, module_name in TABS:
                module = import_module(f"studio.tabs.{module_name}")
                with gr.Tab(title, id=module_name, elem_id=f"tab-{module_name}") as tab_of[module_name]:
                    built[module_name] = module.build(ctx)
        for module_name, components in built.items():
            wire = getattr(import_module(f"studio.tabs.{module_name}"), "wire_load", None)
            if wire is not None:  # page load + opening the tab refresh its lists (shared.refresh_on_open)
                wire(demo, ctx, components, tab_of[module_name])
        start_here.wire(demo, ctx, start, tabs, built["train"])
        api.register(ctx)  # the API-only endpoints (runs, a run's metrics); actions are named in the tabs
    return demo
