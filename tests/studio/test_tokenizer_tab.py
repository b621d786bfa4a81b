"""The Tokenizer tab's handlers, called directly on a real temp workspace (a real `tokenize` job included)."""

from __future__ import annotations

import html
import re
import time

import gradio as gr
import pytest

from core.history import History
from core.tokenizer import inspect_text, load_tokenizer
from studio.context import StudioContext
from studio.tabs import tokenizer as tab

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # gr.Warning outside a request warns


def _runs(ws) -> list[dict]:
    with History(ws.db_path) as h:
        return h.list_runs()


def _tab(ctx) -> tab.TokenizerComponents:
    """The tab's components: its handlers answer dicts keyed by them."""
    with gr.Blocks():
        return tab.build(ctx)


def _visible_text(markup: str) -> str:
    """The token pieces of tokens_html joined back (the id lines beneath are dropped)."""
    pieces = re.findall(r'<span style="white-space:pre;font-family:monospace">(.*?)</span>', markup, re.S)
    return html.unescape("".join(pieces)).replace("↵", "\n")


def test_build_constructs_with_ids(ready_workspace):
    with gr.Blocks() as demo:
        with gr.Tab("Tokenizer"):
            c = tab.build(StudioContext(ready_workspace))
        tab.wire_load(demo, StudioContext(ready_workspace), c)
    assert not c.panel.timer.active and c.panel.log.elem_id == "tokenizer-log"
    assert isinstance(c.tokenizers, gr.Dataframe) and isinstance(c.tokens, gr.HTML) and isinstance(c.panel.timer, gr.Timer)
    assert c.corpus.value == "syn" and c.picker.value == "tok" and c.measure_corpus.value == "syn"
    assert c.text.elem_id == "tokenizer-text" and c.start.elem_id == "tokenizer-start"


def test_suggested_name_is_free(ready_workspace):
    ctx = StudioContext(ready_workspace)
    assert tab.suggest_name(ctx, "syn", 600) == "syn-bpe600"
    (ready_workspace.tokenizers_dir / "syn-bpe600").mkdir()
    assert tab.suggest_name(ctx, "syn", "600") == "syn-bpe600-2"
    assert tab.suggest_name(ctx, "syn", None)["__type__"] == "update"  # no vocab yet: leave the name alone


@pytest.mark.parametrize(
    "args, message",
    [
        ((None, 600, 2, "t"), "Corpus: choose a corpus"),
        (("ghost", 600, 2, "t"), "Corpus: no corpus named 'ghost'"),
        (("syn", 100, 2, "t"), "Vocab size: 100 is not a whole number of at least 260"),
        (("syn", 600, 0, "t"), "Min frequency"),
        (("syn", 600, 2, ""), "Tokenizer name: empty; give it a name, e.g. 'syn-bpe600'"),
        (("syn", 600, 2, "tok"), "Tokenizer name: 'tok' is already taken; pick another, e.g. 'tok-2'"),
    ],
)
def test_training_refuses_bad_input_and_starts_nothing(ready_workspace, args, message):
    c = _tab(StudioContext(ready_workspace))
    with pytest.warns(UserWarning, match=re.escape(message)):
        out = tab.start_training(StudioContext(ready_workspace), *args, c=c)
    assert list(out) == [c.panel.status] and message in out[c.panel.status]
    assert _runs(ready_workspace) == [] and ready_workspace.tokenizers() == ["tok"]


def test_training_job_runs_and_the_tick_lists_the_tokenizer(ready_workspace):
    ctx = StudioContext(ready_workspace)
    c = _tab(ctx)
    out = tab.start_training(ctx, "syn", 400, 2, "t400", c=c)
    job, status, timer, next_name = out[c.panel.job], out[c.panel.status], out[c.panel.timer], out[c.name]
    assert job == "tokenize-t400" and timer.active and next_name == "syn-bpe400"
    assert "babyllama tokenizer train --data syn --vocab-size 400 --min-frequency 2 --name t400" in status
    deadline = time.monotonic() + 60
    while (out := tab.poll_job(ctx, job, c))[c.panel.timer].active and time.monotonic() < deadline:
        time.sleep(0.1)
    job, status, log, timer, table, picker, corpus, measure_corpus = (
        out[k] for k in (*c.panel.outputs, c.tokenizers, c.picker, c.corpus, c.measure_corpus)
    )
    assert "finished" in status and "step 1/1" in status and "elapsed" in status and not timer.active
    assert "tokenizer t400: vocab 400" in log
    row = table[table["name"] == "t400"].iloc[0]
    assert row["vocab reached"] == 400 and row["source corpus"] == "syn" and row["created"]
    assert picker.value == "t400" and ("t400", "t400") in picker.choices
    assert corpus.choices == [("syn", "syn")] == measure_corpus.choices


def test_tokens_html_tiles_the_text_with_ids():
    pieces, ids, tokens = ["Hi", " \u00fc", "", "\n", "<b>"], [5, 9, 10, 7, 8], ["Hi", "Ġ", "x", "Ċ", "<b>"]
    markup = tab.tokens_html(pieces, ids, tokens)
    assert _visible_text(markup) == "Hi \u00fc\n<b>"
    assert markup.count('class="tok"') == 4  # the empty piece joins the token before it
    assert ">9 10</span>" in markup and "&lt;b&gt;" in markup and "<b>" not in markup
    assert "<br>" in markup  # a newline piece breaks the line
    colours = re.findall(r"background:(#[0-9a-f]{6})", markup)
    assert all(a != b for a, b in zip(colours, colours[1:]))


def test_inspect_live_matches_core(ready_workspace):
    ctx = StudioContext(ready_workspace)
    text = "The cat sees a ball.\nWhere is the dog? Ünïcode 日本"
    markup, counts = tab.inspect_live(ctx, "tok", text)
    expected = inspect_text(load_tokenizer("tok", ready_workspace), text)
    assert _visible_text(markup) == text
    assert f"**{len(expected.ids):,}** tokens" in counts and f"**{expected.fertility:.2f}** tokens/word" in counts
    assert f"**{expected.bytes_per_token:.2f}** bytes/token" in counts
    assert "Pick a tokenizer" in tab.inspect_live(ctx, None, text)[0]
    assert "no tokenizer 'ghost'" in tab.inspect_live(ctx, "ghost", text)[0]


def test_measure_on_corpus(ready_workspace):
    ctx = StudioContext(ready_workspace)
    table = tab.measure_on_corpus(ctx, "tok", "syn")
    values = dict(zip(table["measure"], table["value"]))
    assert float(values["fertility (tokens/word)"]) > 1.0 and float(values["bytes per token"]) > 1.0
    assert values["measured"] == "tok on syn" and values["unknown rate"] == "0.00%"
    assert 0 < float(values["coverage (words that are one token)"].rstrip("%")) <= 100
    with pytest.warns(UserWarning, match="Corpus: choose a corpus"):
        assert tab.measure_on_corpus(ctx, "tok", "ghost")["__type__"] == "update"
    with pytest.warns(UserWarning, match="Tokenizer: pick"):
        tab.measure_on_corpus(ctx, None, "syn")


def test_tick_without_job_refreshes_lists(ready_workspace):
    ctx = StudioContext(ready_workspace)
    c = _tab(ctx)
    out = tab.poll_job(ctx, "", c)
    job, timer, table, picker, corpus = (out[k] for k in (c.panel.job, c.panel.timer, c.tokenizers, c.picker, c.corpus))
    assert job == "" and not timer.active and list(table["name"]) == ["tok"]
    assert picker.choices == [("tok", "tok")] and corpus.choices == [("syn", "syn")]
    assert table["vocab reached"][0] == 600 and table["source corpus"][0].endswith("syn")
