"""Opening a tab refreshes its lists (studio.shared.refresh_on_open), and the Train tab's command
box follows the form from the page load on."""

from __future__ import annotations

import gradio as gr

from core.data import create_synthetic_corpus
from studio.app import build_app
from studio.context import StudioContext
from studio.tabs import data as data_tab
from studio.tabs import model as model_tab
from studio.tabs import train as train_tab

LIST_TABS = ("data", "tokenizer", "model", "train", "evaluate", "compare", "chat")


def _ids(demo) -> dict[str, int]:
    return {b.elem_id: i for i, b in demo.blocks.items() if getattr(b, "elem_id", None)}


def test_every_list_tab_refreshes_when_opened(workspace):
    demo = build_app(workspace)
    ids, deps = _ids(demo), demo.config["dependencies"]
    for name in LIST_TABS:
        tab_id = ids[f"tab-{name}"]
        assert any([tab_id, "select"] in [list(t) for t in d["targets"]] for d in deps), f"tab {name} not refreshed on open"


def test_the_command_box_fills_on_load_and_on_every_form_change(workspace):
    demo = build_app(workspace)
    ids, deps = _ids(demo), demo.config["dependencies"]
    command = ids["train-command"]
    fed = [d for d in deps if command in d["outputs"]]
    triggers = {tuple(t) for d in fed for t in d["targets"]}
    assert (ids["train-training-max-steps"], "change") in triggers
    assert any(d["trigger_after"] is not None for d in fed)  # the .then after page load


def test_refreshes_pick_up_what_another_tab_or_job_made(workspace):
    ctx = StudioContext(workspace)
    assert train_tab.fresh_choices(ctx)[1]["choices"] == []
    create_synthetic_corpus(workspace, "sample", n_words=300)  # as Start here's chain does
    runs, corpora, tokenizers = train_tab.fresh_choices(ctx)
    assert "value" not in corpora and [c[0] if isinstance(c, tuple) else c for c in corpora["choices"]] == ["sample"]
    with gr.Blocks():
        c = data_tab.build(ctx)
    out = data_tab.poll_job(ctx, "", c)
    job, table, dropdown = out[c.panel.job], out[c.corpora], out[c.corpus]
    assert job == "" and "sample" in list(table["name"]) and ("sample", "sample") in dropdown.choices
    _, _, corpus = model_tab.refresh_lists(ctx, "tiny", "", "")
    assert "sample" in corpus["choices"]
