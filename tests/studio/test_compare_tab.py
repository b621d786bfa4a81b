"""The Compare tab's handlers on runs written straight into the history (and one real run):
the runs table and its filters, overlaid curves, config diff, evals, delete and rename."""

from __future__ import annotations

import json
import math
import time

import gradio as gr
import pytest

from core import config, jobs
from core.config import presets
from core.history import FINAL
from core.model import build as models
from core.tokenizer import vocab_size_of
from studio.context import StudioContext
from studio.tabs import compare as tab
from tests.conftest import TINY


def _cfg(*overrides: str) -> dict:
    return config.load(presets.find("tiny"), ["model.vocab_size=1000", *overrides]).to_dict()


def add_run(ctx, name, *, status="finished", steps=10, cfg=None, kind="train", started=1000.0, ended=1100.0, eval_at=(5, 10)):
    """A run row with a folder and loss/lr every step and eval_loss at `eval_at`."""
    run_dir = ctx.workspace.run_dir(name)
    run_dir.mkdir(parents=True)
    (run_dir / "config.yaml").write_text("model: {}\n")
    (run_dir / jobs.JOB_FILE).write_text(json.dumps({"kind": kind, "name": name, "resume_from": str(run_dir / "checkpoint-5")}))
    with ctx.history() as h:
        h.create_run(name, kind, cfg or _cfg(), run_dir, total_steps=steps)
        for step in range(1, steps + 1):
            h.log_metrics(name, step, {"loss": 6.0 - 0.2 * step, "lr": 1e-3}, tokens=512 * step, time=started + step)
            if step in eval_at:
                h.log_metrics(
                    name,
                    step,
                    {"eval_loss": 5.0 - 0.1 * step, "eval_perplexity": math.exp(5.0 - 0.1 * step)},
                    tokens=512 * step,
                    time=started + step,
                )
        final = status in FINAL
        h.set_status(name, status, started=started, **({"ended": ended} if final else {}))
    return run_dir


@pytest.fixture
def ctx(workspace):
    return StudioContext(workspace)


def test_runs_table_columns_and_values(ctx):
    add_run(ctx, "alpha", started=1000.0, ended=1100.0)
    row = tab.runs_table(ctx).iloc[0].to_dict()
    tiny = config.load(presets.find("tiny"), ["model.vocab_size=1000"]).model
    assert list(tab.runs_table(ctx).columns) == tab.RUN_COLUMNS
    assert row == {
        "name": "alpha",
        "status": "finished",
        "model": "Llama tiny",
        "params": models.human(models.count_parameters(tiny)),
        "steps": "10/10",
        "tokens seen": models.human(5120),
        "best eval loss": "4.0000",
        "duration": "1m 40s",
    }


def test_runs_table_only_training_runs_and_filters(ctx):
    add_run(ctx, "alpha")
    add_run(ctx, "Beta-2", status="failed")
    add_run(ctx, "gamma", status="running", started=time.time() - 3725)
    with ctx.history() as h:
        h.create_run("tok-job", "tokenize", {"vocab_size": 600}, None)
    assert set(tab.runs_table(ctx)["name"]) == {"alpha", "Beta-2", "gamma"}
    assert list(tab.runs_table(ctx, "failed")["name"]) == ["Beta-2"]
    assert set(tab.runs_table(ctx, "all", "bEtA")["name"]) == {"Beta-2"}
    assert tab.runs_table(ctx, "stopped").empty
    running = tab.runs_table(ctx, "running").iloc[0]
    assert running["duration"].startswith("1h 02m")  # now - started while it runs


def test_params_use_the_runs_tokenizer_when_vocab_is_zero(ready_workspace):
    ctx = StudioContext(ready_workspace)
    add_run(ctx, "tokrun", cfg=_cfg("model.vocab_size=0", *TINY))
    vocab = vocab_size_of("tok", ready_workspace)
    tiny = config.load(presets.find("tiny")).model
    assert tab.runs_table(ctx).iloc[0]["params"] == models.human(models.count_parameters(tiny, vocab))
    add_run(ctx, "novocab", cfg=_cfg("model.vocab_size=0"))  # no tokenizer anywhere: approximate
    assert tab.runs_table(ctx, "all", "novocab").iloc[0]["params"].startswith("~")


def test_refresh_view_keeps_selection_and_drops_deleted_runs(ctx):
    add_run(ctx, "alpha")
    add_run(ctx, "beta", status="failed")
    table, select, manage = tab.refresh_view(ctx, "failed", "", ["alpha", "gone"], "alpha")
    assert list(table["name"]) == ["beta"]
    assert select["value"] == ["alpha"] and select["choices"] == ["beta", "alpha"]
    assert manage["value"] == "alpha" and set(manage["choices"]) == {"alpha", "beta"}


def test_overlay_draws_one_trace_per_run(ctx):
    add_run(ctx, "alpha")
    add_run(ctx, "beta", steps=6, eval_at=(3, 6))
    fig = tab.overlay(ctx, ["alpha", "beta"], "eval_loss", "step", 0.0)
    assert [t.name for t in fig.data] == ["alpha", "beta"]
    assert list(fig.data[0].x) == [5, 10] and list(fig.data[0].y) == pytest.approx([4.5, 4.0])
    tokens = tab.overlay(ctx, ["alpha"], "loss", "tokens", 0.0)
    assert list(tokens.data[0].x)[:2] == [512, 1024]
    smoothed = tab.overlay(ctx, ["alpha"], "loss", "step", 0.9).data[0].y
    raw = tab.overlay(ctx, ["alpha"], "loss", "step", 0.0).data[0].y
    assert smoothed[-1] > raw[-1]  # the EMA lags the falling loss
    assert len(tab.overlay(ctx, [], "loss", "step", 0.0).data) == 0


def test_config_diff_shows_only_differing_keys(ctx):
    add_run(ctx, "alpha", cfg=_cfg("training.lr=0.001"))
    add_run(ctx, "beta", cfg=_cfg("training.lr=0.0005", "model.n_layer=3"))
    add_run(ctx, "gamma", cfg=_cfg("training.lr=0.001"))
    diff = tab.config_diff(ctx, ["alpha", "beta", "gamma"])
    assert list(diff.columns) == ["key", "alpha", "beta", "gamma"]
    rows = {r[0]: r[1:] for r in diff.values.tolist()}
    assert rows == {"model.n_layer": ["2", "3", "2"], "training.lr": ["0.001", "0.0005", "0.001"]}
    assert tab.config_diff(ctx, ["alpha", "gamma"]).empty
    assert tab.config_diff(ctx, []).empty


def test_eval_table_has_last_eval_metrics_and_evals_rows(ctx):
    add_run(ctx, "alpha")
    with ctx.history() as h:
        h.log_eval("alpha", 10, "blimp", "anaphor_agreement", 0.75)
    rows = tab.eval_table(ctx, ["alpha", "missing"]).values.tolist()
    assert rows[0] == ["alpha", "training", "eval_loss", 4.0, 10]
    assert rows[1][2] == "eval_perplexity" and rows[1][3] == pytest.approx(math.exp(4.0), rel=1e-4)
    assert rows[2] == ["alpha", "blimp", "anaphor_agreement", 0.75, 10]
    assert len(rows) == 3


def test_delete_asks_first_then_removes_rows_and_folder(ctx):
    folder = add_run(ctx, "alpha")
    message, button = tab.delete_run(ctx, "alpha", tab.DELETE)
    assert button["value"] == "Really delete alpha?" and "Really delete alpha?" in message
    with ctx.history() as h:
        assert h.get_run("alpha") is not None and folder.is_dir()
    # A button armed for another run does not delete this one.
    add_run(ctx, "beta")
    assert tab.delete_run(ctx, "beta", "Really delete alpha?")[1]["value"] == "Really delete beta?"
    message, button = tab.delete_run(ctx, "alpha", "Really delete alpha?")
    assert "Deleted run **alpha**" in message and button["value"] == tab.DELETE
    with ctx.history() as h:
        assert h.get_run("alpha") is None and h.metrics_since("alpha") == []
        assert h.get_run("beta") is not None
    assert not folder.exists() and ctx.workspace.run_dir("beta").is_dir()


def test_delete_refuses_running_and_queued_runs(ctx):
    folder = add_run(ctx, "live", status="running", started=time.time())
    message, button = tab.delete_run(ctx, "live", "Really delete live?")
    assert "is running: stop it first" in message and button["value"] == tab.DELETE
    with ctx.history() as h:
        assert h.get_run("live").status == "running"
    assert folder.is_dir()
    assert "Choose a run" in tab.delete_run(ctx, None, tab.DELETE)[0]


def test_rename_moves_folder_history_and_job_file(ctx):
    old = add_run(ctx, "alpha")
    message = tab.rename_run(ctx, "alpha", "alpha-v2")
    new = ctx.workspace.run_dir("alpha-v2")
    assert "Renamed **alpha** to **alpha-v2**" in message
    assert new.is_dir() and not old.exists()
    with ctx.history() as h:
        run = h.get_run("alpha-v2")
        assert run.run_dir == str(new) and h.get_run("alpha") is None
        assert len(h.metric_series("alpha-v2", "loss")) == 10
    job = json.loads((new / jobs.JOB_FILE).read_text())
    assert job["name"] == "alpha-v2" and job["resume_from"] == str(new / "checkpoint-5")


def test_rename_refuses_taken_bad_and_running(ctx):
    add_run(ctx, "alpha")
    add_run(ctx, "beta")
    add_run(ctx, "live", status="queued")
    assert "already exists" in tab.rename_run(ctx, "alpha", "beta")
    assert "not a valid name" in tab.rename_run(ctx, "alpha", "../evil")
    assert "is queued: stop it first" in tab.rename_run(ctx, "live", "other")
    ctx.workspace.run_dir("orphan").mkdir()  # a folder no run owns
    assert "already exists" in tab.rename_run(ctx, "alpha", "orphan")
    with ctx.history() as h:
        assert {r.name for r in h.list_runs()} == {"alpha", "beta", "live"}
    assert ctx.workspace.run_dir("alpha").is_dir()


@pytest.mark.slow  # a real worker process trains 10 steps (about 15 s)
def test_real_training_run_appears_in_the_table(ready_workspace):
    ctx = StudioContext(ready_workspace)
    cfg = config.load(
        presets.find("tiny"),
        [*TINY, "training.max_steps=10", "training.logging_steps=5", "training.eval_steps=10", "training.save_steps=0"],
    )
    with ctx.history() as h:
        jobs.start("train", cfg, ready_workspace, h, name="real")
        deadline = time.monotonic() + 90
        while jobs.refresh(h, "real").status not in FINAL and time.monotonic() < deadline:
            time.sleep(0.3)
    row = tab.runs_table(ctx).iloc[0]
    vocab = vocab_size_of("tok", ready_workspace)
    assert (row["name"], row["status"], row["steps"]) == ("real", "finished", "10/10")
    assert row["params"] == models.human(models.count_parameters(cfg.model, vocab))
    assert row["tokens seen"] == models.human(10 * cfg.training.batch_size * cfg.data.seq_length)
    assert row["best eval loss"] != ""
    assert len(tab.overlay(ctx, ["real"], "loss", "step", 0.0).data[0].x) == 2


def test_tab_builds(ctx):
    add_run(ctx, "alpha")
    with gr.Blocks() as demo:
        with gr.Tab("Compare"):
            comps = tab.build(ctx)
        tab.wire_load(demo, ctx, comps)
    assert comps.selected.elem_id == "compare-select" and comps.selected.multiselect
    assert [c[1] for c in comps.selected.choices] == ["alpha"]
    assert comps.runs.elem_id == "compare-runs" and comps.delete_button.value == tab.DELETE
    loader = next(
        f for f in demo.fns.values() if getattr(f.fn, "func", None) is tab.refresh_view and any(e == "load" for _, e in f.targets)
    )
    assert [b._id for b in loader.outputs] == [comps.runs._id, comps.selected._id, comps.manage_run._id]
