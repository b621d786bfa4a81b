"""Chat tab handlers, called directly: model list, panes, streaming into every pane, seeds, errors."""

from __future__ import annotations

import shutil

import gradio as gr
import pytest
import torch

from core import config
from core.model import build as models
from core.tokenizer import load_tokenizer
from studio.context import StudioContext
from studio.tabs import chat

SAMPLING = dict(temperature=0.9, top_k=50, top_p=0.95, max_new_tokens=12, repetition_penalty=1.1, seed=3)


def _save_tiny(folder, family: str, tokenizer, seed: int) -> None:
    cfg = config.load(
        overrides=[
            f"model.type={family}",
            "model.hidden_size=32",
            "model.n_head=2",
            "model.intermediate_size=64",
            "model.n_layer=1",
            "model.max_position_embeddings=128",
            "data.seq_length=32",
        ]
    )
    torch.manual_seed(seed)
    models.build_model(cfg.model, len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.fixture
def ctx(ready_workspace):
    """Runs: `llama` (finished, final model), `gpt2` (stopped, checkpoint only), and three that
    must not be offered: a running one, a finished one with no model, a tokenize job."""
    ws = ready_workspace
    tok = load_tokenizer("tok", ws)
    context = StudioContext(ws)
    with context.history() as h:
        for name, kind, status in [
            ("empty", "train", "finished"),
            ("busy", "train", "running"),
            ("gpt2", "train", "stopped"),
            ("llama", "train", "finished"),
            ("tok-job", "tokenize", "finished"),
        ]:
            ws.run_dir(name).mkdir(parents=True)
            h.create_run(name, kind, {}, ws.run_dir(name))
            h.set_status(name, status)
    _save_tiny(ws.run_dir("llama"), "Llama", tok, seed=1)
    _save_tiny(ws.run_dir("gpt2") / "checkpoint-5", "GPT2", tok, seed=2)
    _save_tiny(ws.run_dir("busy"), "Llama", tok, seed=3)
    _save_tiny(ws.run_dir("tok-job"), "Llama", tok, seed=4)
    return context


def _tab(ctx) -> chat.ChatComponents:
    """The tab's components: its handlers answer dicts keyed by them."""
    with gr.Blocks():
        return chat.build(ctx)


def _send(ctx, selected, prompt="the cat sat", chat_mode=False, histories=None, **overrides):
    """Every answer `send` streamed, each as (pane 1, ..., pane 4, status) read by component."""
    values = {**SAMPLING, **overrides}
    histories = histories or [[] for _ in range(chat.MAX_PANES)]
    c = _tab(ctx)
    steps = list(chat.send(ctx, selected, prompt, chat_mode, *values.values(), *histories, c=c))
    assert all(set(step) == {*c.panes, c.status} for step in steps)  # every pane and the status, each time
    return [(*(step[pane] for pane in c.panes), step[c.status]) for step in steps]


def _select(ctx, c, selected, pane_models, *histories) -> tuple[list, list]:
    """`select_models` as (pane updates, new pane -> model list)."""
    out = chat.select_models(ctx, selected, pane_models, *histories, c=c)
    return [out[pane] for pane in c.panes], out[c.pane_models]


def test_model_choices_are_finished_or_stopped_runs_with_a_model(ctx):
    assert chat.model_choices(ctx) == ["llama", "gpt2"]  # newest first
    update = chat.refresh_models(ctx, ["gpt2", "gone"])
    assert update["choices"] == ["llama", "gpt2"] and update["value"] == ["gpt2"]
    assert chat.load_models(ctx)["value"] == ["llama"]


def test_panes_follow_the_selection_and_keep_history_only_for_the_same_model(ctx):
    kept = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "there"}]
    c = _tab(ctx)
    updates, pane_models = _select(ctx, c, ["llama", "gpt2"], ["llama"], kept, [], [], [])
    assert pane_models == ["llama", "gpt2"]
    assert [u["visible"] for u in updates] == [True, True, False, False]
    assert [u["label"] for u in updates[:2]] == ["llama", "gpt2"]
    assert updates[0]["value"] == kept and updates[1]["value"] == []
    updates, _ = _select(ctx, c, ["gpt2"], ["llama", "gpt2"], kept, [], [], [])
    assert updates[0]["label"] == "gpt2" and updates[0]["value"] == []  # pane 1 changed model
    updates, _ = _select(ctx, c, [], ["gpt2"], [], [], [], [])
    assert [u["visible"] for u in updates] == [True, False, False, False]


def test_send_streams_an_answer_into_every_selected_pane(ctx):
    steps = _send(ctx, ["llama", "gpt2"])
    assert len(steps) > 3  # streamed: the panes were updated token by token
    *panes, status = steps[-1]
    for pane in panes[:2]:
        assert pane[0] == {"role": "user", "content": "the cat sat"}
        assert pane[1]["role"] == "assistant" and pane[1]["content"].strip()
    assert panes[2] == [] and panes[3] == []
    assert status.startswith("Done.") and "**llama**: 12 tokens" in status and "**gpt2**" in status
    # Mid-stream, an answer is a prefix of the final one.
    middle = steps[len(steps) // 2][0][1]["content"]
    assert panes[0][1]["content"].startswith(middle.rstrip())


def test_same_seed_same_answers_different_seed_different_answers(ctx):
    first = _send(ctx, ["llama", "gpt2"])[-1][:2]
    again = _send(ctx, ["llama", "gpt2"])[-1][:2]
    other = _send(ctx, ["llama", "gpt2"], seed=4)[-1][:2]
    assert first == again
    assert [p[1]["content"] for p in other] != [p[1]["content"] for p in first]


def test_chat_mode_prepends_earlier_turns_from_gradio_message_parts(ctx):
    earlier = [
        {"role": "user", "content": [{"type": "text", "text": "hello"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "hi there"}]},
    ]
    assert (
        chat.chat_prompt(chat._messages(earlier), "how are you?")
        == "User: hello\nAssistant: hi there\nUser: how are you?\nAssistant:"
    )
    *panes, status = _send(ctx, ["llama"], "how are you?", True, [earlier, [], [], []])[-1]
    assert [m["content"] for m in panes[0][:3]] == ["hello", "hi there", "how are you?"]
    assert len(panes[0]) == 4 and "User:" not in panes[0][3]["content"]
    assert status.startswith("Done.")


def test_problems_are_shown_not_raised(ctx):
    old = [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]
    with pytest.warns(UserWarning, match="pick at least one model"):  # gr.Warning outside a request
        *panes, status = _send(ctx, [], histories=[old, [], [], []])[-1]
    assert "pick at least one model" in status and panes[0] == old
    with pytest.warns(UserWarning, match="temperature"):
        status = _send(ctx, ["llama"], temperature=-1)[-1][-1]
    assert "temperature" in status and "must be >= 0" in status
    with pytest.warns(UserWarning, match="type a message"):
        assert "type a message" in _send(ctx, ["llama"], "  ", True)[-1][-1]
    shutil.rmtree(ctx.workspace.run_dir("gpt2"))  # a run deleted after the list was shown
    *panes, status = _send(ctx, ["gpt2", "llama"])[-1]
    assert "**gpt2**: could not load" in status and panes[0] == []
    assert panes[1][1]["content"].strip() and "**llama**: 12 tokens" in status


def test_completion_mode_may_start_from_an_empty_prompt(ctx):
    *panes, status = _send(ctx, ["llama"], "")[-1]
    assert panes[0][1]["content"].strip() and "prompt 1 tokens" in status


def test_clear_empties_every_pane(ctx):
    c = _tab(ctx)
    out = chat.clear_panes(ctx, c)
    assert [out[pane] for pane in c.panes] == [[], [], [], []] and out[c.status] == ""


def test_tab_builds_inside_blocks(ctx):
    with gr.Blocks():
        with gr.Tab("Chat"):
            built = chat.build(ctx)
    assert len(built.panes) == chat.MAX_PANES and len(built.sampling) == 6
    assert built.models.choices == [("llama", "llama"), ("gpt2", "gpt2")]
    assert [p.visible for p in built.panes] == [True, False, False, False]
    assert built.panes[0].label == "llama"
