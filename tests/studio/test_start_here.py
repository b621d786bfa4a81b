"""The "Start here" panel's handlers: shown only on an empty workspace (or while a chain runs), one
click starts the quickstart job, and the poll hands over to the Train tab once the run exists."""

from __future__ import annotations

import os

import gradio as gr
import pytest

from core.data import create_synthetic_corpus
from core.history import History
from core.jobs import spawn
from studio.app import build_app
from studio.context import StudioContext
from studio.panels import start_here
from studio.tabs import train as train_tab


class FakeProc:
    pid = os.getpid()


@pytest.fixture
def ctx(workspace, monkeypatch):
    monkeypatch.setattr(spawn, "_launch", lambda run_dir, n: FakeProc())  # no worker: the test sets statuses
    return StudioContext(workspace)


def _page(ctx):
    """The panel, the page's tabs and the Train tab: the handlers answer dicts keyed by them."""
    with gr.Blocks():
        c = start_here.build(ctx)
        with gr.Tabs() as tabs:
            with gr.Tab("Train", id="train"):
                train = train_tab.build(ctx)
    return c, tabs, train


def _visible(update) -> bool:
    return update.visible if isinstance(update, gr.Group) else update["visible"]


def test_panel_shows_on_an_empty_workspace_only(ctx, workspace):
    group, job, timer = start_here.on_load(ctx)
    assert _visible(group) and job == "" and not timer.active
    create_synthetic_corpus(workspace, "mine", n_words=500)
    assert not _visible(start_here.on_load(ctx)[0])


def test_click_starts_one_job_and_a_reload_reattaches(ctx, workspace):
    c, _, _ = _page(ctx)
    job, status, timer, button = start_here.start_chain(ctx, c).values()
    assert job == "quickstart" and timer.active and button.interactive is False
    assert "corpus sample (new)" in status and "run tiny-sample (new)" in status
    group, again, timer = start_here.on_load(ctx)  # a reload while the chain runs: still shown, polling
    assert _visible(group) and again == "quickstart" and timer.active


def test_poll_waits_then_hands_over_to_the_train_tab(ctx, workspace):
    c, tabs, train = _page(ctx)
    job = start_here.start_chain(ctx, c)[c.job]
    out = start_here.poll(ctx, job, c, tabs, train)
    assert "step 1/3" in out[c.status] and set(out) == {c.status, c.timer}  # still on this page
    with History(workspace.db_path) as h:
        h.create_run("tiny-sample", "train", {}, None)
        h.set_status(job, "finished")
    out = start_here.poll(ctx, job, c, tabs, train)
    status, timer, group, button = out[c.status], out[c.timer], out[c.group], out[c.button]
    run, train_timer, corpus, tokenizer = (
        out[train.dash.run],
        out[train.dash.timer],
        out[train.controls.corpus],
        out[train.controls.tokenizer],
    )
    assert "tiny-sample" in status and not timer.active and out[tabs].selected == "train" and button.interactive
    assert run["value"] == "tiny-sample" and "tiny-sample" in run["choices"] and train_timer.active
    assert not group.visible and corpus["value"] == "sample" and tokenizer["value"] == "sample-bpe2000"


def test_a_failed_chain_says_why_and_can_be_clicked_again(ctx, workspace):
    c, tabs, train = _page(ctx)
    job = start_here.start_chain(ctx, c)[c.job]
    with History(workspace.db_path) as h:
        h.set_status(job, "failed", error="UserError: quickstart: the tokenize job 'tokenize-sample' ended failed")
    out = start_here.poll(ctx, job, c, tabs, train)
    status, timer, button = out[c.status], out[c.timer], out[c.button]
    assert tabs not in out and train.dash.run not in out  # the Train tab is left alone
    assert "tokenize job" in status and "runs logs quickstart" in status
    assert not timer.active and button.interactive


def test_the_panel_is_in_the_page_with_a_named_action(workspace):
    info = build_app(workspace).get_api_info()
    assert "/quickstart" in info["named_endpoints"]
