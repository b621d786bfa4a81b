"""The Model tab's handlers, called directly: preset loading, live size/memory, validation, data fit,
saving presets, the system panel; and the tab builds inside Blocks."""

from __future__ import annotations

import gradio as gr
import pytest

from core import config
from core.config import presets
from core.model import build as models
from core.tokenizer import vocab_size_of
from studio.context import StudioContext
from studio.tabs import model as tab
from studio.tabs import model_size as size

IDX = {path: i for i, path in enumerate(tab.FIELDS)}


@pytest.fixture
def ctx(ready_workspace):
    return StudioContext(ready_workspace)


def _size(ctx, *form) -> tuple:
    """(summary, errors, memory figure, data fit) of the form."""
    e = size.size_of(ctx, *form)
    return e.summary, e.errors, e.figure, e.fit


def _with(values, **changes):
    """A copy of form values with fields changed by their bare name (hidden_size=65)."""
    out = list(values)
    for key, value in changes.items():
        out[next(i for p, i in IDX.items() if p.endswith("." + key))] = value
    return out


def test_load_preset_fills_every_field_from_the_yaml(ctx):
    cfg = config.load(presets.find("tiny"))
    values = tab.load_preset(ctx, "tiny")
    assert values == ["Llama", 64, 192, 2, 4, 128, 64, 0, False, 8]
    assert values[IDX["training.batch_size"]] == cfg.training.batch_size
    # A vanished preset falls back to the defaults instead of failing.
    assert tab.load_preset(ctx, "no-such-preset") == tab.load_preset(ctx, None)


def test_estimate_shows_exact_parameters_and_memory_parts(ctx):
    values = tab.load_preset(ctx, "tiny")
    summary, errors, fig, _ = _size(ctx, "tiny", "", "", None, *values)
    cfg = config.load(presets.find("tiny"))
    expected = models.count_parameters(cfg.model, models.NOMINAL_VOCAB)
    assert f"`{expected:,}`" in summary and "nominal" in summary
    assert errors == ""
    bar = fig.data[0]
    assert list(bar.x) == ["weights", "gradients", "optimizer", "activations"]
    mem = models.estimate_memory(cfg, models.NOMINAL_VOCAB)
    assert bar.y[0] == pytest.approx(mem.weights / 1e6)  # tiny: shown in MB
    assert bar.y[3] == pytest.approx(mem.activations / 1e6)


def test_estimate_follows_every_edit(ctx):
    values = tab.load_preset(ctx, "tiny")
    base = _size(ctx, "tiny", "", "", None, *values)[0]
    for change in ({"n_layer": 3}, {"type": "GPT2"}, {"tie_word_embeddings": True}, {"vocab_size": 1000}):
        cfg = config.load(presets.find("tiny"), [f"{k}={v}" for k, v in change.items()])
        expected = models.count_parameters(cfg.model)
        summary = _size(ctx, "tiny", "", "", None, *_with(values, **change))[0]
        assert summary != base and f"`{expected:,}`" in summary, change
    # The batch size only moves the memory estimate.
    small = _size(ctx, "tiny", "", "", None, *values)[2].data[0].y[3]
    big = _size(ctx, "tiny", "", "", None, *_with(values, batch_size=64))[2].data[0].y[3]
    assert big > 2 * small  # activations grow with the batch (the loss chunk does not)


def test_tokenizer_sets_the_vocabulary(ctx):
    values = tab.load_preset(ctx, "tiny")
    vocab = vocab_size_of("tok", ctx.workspace)
    summary = _size(ctx, "tiny", "tok", "", None, *values)[0]
    cfg = config.load(presets.find("tiny"))
    assert f"`{models.count_parameters(cfg.model, vocab):,}`" in summary
    assert f"vocab {vocab:,}, from tokenizer tok" in summary


def test_invalid_fields_are_listed_by_name_never_raised(ctx):
    values = _with(tab.load_preset(ctx, "tiny"), hidden_size=66, seq_length=None, n_layer=0)
    summary, errors, fig, fit = _size(ctx, "tiny", "", "syn", None, *values)
    for field in ("model.hidden_size", "data.seq_length", "model.n_layer"):
        assert f"<b>{field}</b>" in errors
    assert "is empty" in errors and "not divisible" in errors and "color:#b42318" in errors
    assert "Fix the fields" in summary and len(fig.data[0].x) == 0 and fit == ""


def test_vocab_size_must_match_the_chosen_tokenizer(ctx):
    values = _with(tab.load_preset(ctx, "tiny"), vocab_size=1234)
    errors = _size(ctx, "tiny", "tok", "", None, *values)[1]
    assert "<b>model.vocab_size</b>" in errors and "does not match the tokenizer" in errors


def test_data_fit_against_the_rule_of_thumb(ctx):
    from core.data import read_manifest

    words = read_manifest(ctx.workspace.corpus_dir("syn"))["splits"]["train"]["words"]
    tokens = words / size.WORDS_PER_TOKEN
    large = size.data_fit(ctx, "syn", int(tokens * 10))  # 0.1 tokens per parameter
    fine = size.data_fit(ctx, "syn", int(tokens))  # 1
    small = size.data_fit(ctx, "syn", int(tokens / 50))  # 50
    assert "large for this data: expect overfitting; pick a smaller preset or more data" in large
    assert "within the rule of thumb" in fine and "**1 tokens per parameter**" in fine
    assert "small for this data" in small
    assert "Choose a corpus" in size.data_fit(ctx, "", 1000)
    assert "no word count" in size.data_fit(ctx, "missing", 1000)


def test_fertility_is_measured_and_used(ctx):
    fertility = size.measure_fertility(ctx, "tok", "syn")
    assert fertility and 1.0 <= fertility < 3.0
    assert size.measure_fertility(ctx, "", "syn") is None
    values = tab.load_preset(ctx, "tiny")
    fit = _size(ctx, "tiny", "tok", "syn", fertility, *values)[3]
    assert f"{fertility:.2f} tokens per word, measured" in fit
    assert "words / 0.75" in _size(ctx, "tiny", "", "syn", None, *values)[3]


def test_save_preset_writes_the_resolved_config(ctx):
    values = _with(tab.load_preset(ctx, "tiny"), n_layer=3, hidden_size=96, n_head=6)
    message, update = tab.save_preset(ctx, "my-small", "tiny", *values)
    path = ctx.workspace.root / "presets" / "my-small.yaml"
    assert "Saved preset **my-small**" in message and path.is_file()
    assert update["value"] == "my-small" and "my-small" in update["choices"]
    cfg = config.load(path)
    assert (cfg.model.n_layer, cfg.model.hidden_size, cfg.model.name) == (3, 96, "my-small")
    assert cfg.training.max_steps == config.load(presets.find("tiny")).training.max_steps
    assert presets.available(ctx.workspace)["my-small"] == path
    # Loading it back gives the same form.
    assert tab.load_preset(ctx, "my-small") == values


@pytest.mark.parametrize(
    "name, expected",
    [
        ("tiny", "is taken"),
        ("LLAMA-10m", "is taken"),
        ("bad name", "not a valid name"),
        ("", "not a valid name"),
    ],
)
def test_save_preset_refuses_taken_and_bad_names(ctx, name, expected):
    message, update = tab.save_preset(ctx, name, "tiny", *tab.load_preset(ctx, "tiny"))
    assert expected in message and "Not saved" in message and update == gr.update()
    assert not (ctx.workspace.root / "presets").exists()


def test_save_preset_refuses_a_workspace_name_and_invalid_fields(ctx):
    values = tab.load_preset(ctx, "tiny")
    tab.save_preset(ctx, "mine", "tiny", *values)
    assert "is taken" in tab.save_preset(ctx, "mine", "tiny", *values)[0]
    message = tab.save_preset(ctx, "other", "tiny", *_with(values, n_head=5))[0]
    assert "model.hidden_size" in message and not (ctx.workspace.root / "presets" / "other.yaml").exists()


def test_refresh_lists_sees_new_presets_tokenizers_and_corpora(ctx):
    (ctx.workspace.root / "presets").mkdir()
    (ctx.workspace.root / "presets" / "late.yaml").write_text("model:\n  n_layer: 1\n")
    preset, tokenizer, corpus = tab.refresh_lists(ctx, "tiny", "tok", "gone")
    assert "late" in preset["choices"] and preset["value"] == "tiny"
    assert ("tok" in tokenizer["choices"]) and tokenizer["value"] == "tok"
    assert "syn" in corpus["choices"] and corpus["value"] == ""


def test_system_panel_lists_the_machine(ctx):
    text = tab.system_markdown(ctx)
    for label in ("device", "CPU threads", "RAM", "GPU memory", "free disk"):
        assert f"| {label} |" in text


def test_tab_builds_with_help_from_the_config_metadata(ctx):
    with gr.Blocks() as demo:
        with gr.Tab("Model"):
            comps = tab.build(ctx)
        tab.wire_load(demo, ctx, comps)
    assert len(comps.fields) == len(tab.FIELDS)
    hidden = comps.fields[IDX["model.hidden_size"]]
    assert hidden.info == config.field_specs()["model.hidden_size"].metadata["help"]
    assert hidden.elem_id == "model-hidden_size" and comps.preset.value == "llama-10M"
    assert "9.7M parameters" in comps.summary.value
    # Every form field re-runs the estimate on change.
    estimate_fn = next(f for f in demo.fns.values() if getattr(f.fn, "func", None) is tab.estimate)
    targets = {block_id for block_id, event in estimate_fn.targets if event == "change"}
    assert {c._id for c in comps.fields} <= targets
    # Page loads re-read the preset, tokenizer and corpus lists.
    loader = next(
        f
        for f in demo.fns.values()
        if getattr(f.fn, "func", None) is tab.refresh_lists and any(e == "load" for _, e in f.targets)
    )
    assert [b._id for b in loader.outputs] == [comps.preset._id, comps.tokenizer._id, comps.corpus._id]


def test_the_estimate_handler_answers_each_output_by_component(ctx):
    with gr.Blocks():
        c = tab.build(ctx)
    values = tab.load_preset(ctx, "tiny")
    out = tab.estimate(ctx, "tiny", "", "", None, *values, c=c)
    assert list(out) == [c.summary, c.errors, c.memory_plot, c.fit]
    assert out[c.summary] == size.size_of(ctx, "tiny", "", "", None, *values).summary and "parameters" in out[c.summary]
