"""Sweep handlers of the Train and Compare tabs, called without a browser."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import gradio as gr
import pandas as pd
import pytest

from core.errors import UserError
from core.history import FINAL
from core.sweep import runs as sweep_runs
from core.sweep import spec as sweep
from studio import forms
from studio.context import StudioContext
from studio.panels import sweep as panel
from studio.tabs import compare as compare_tab
from studio.tabs import train as train_tab


@pytest.fixture
def ctx(ready_workspace):
    return StudioContext(ready_workspace)


def _form(ctx, **changes):
    values = train_tab.preset_values(ctx, "tiny")
    for path, value in changes.items():
        values[forms.FORM_PATHS.index(path.replace("__", "."))] = value
    return ["tiny", "syn", "tok", *values]


def test_parse_space_splits_grid_lines_from_distributions():
    grid, space = panel.parse_space("training.lr: [1e-4, 3e-4]\nmodel.n_layer: {choice: [2, 4]}\n")
    assert grid == {"training.lr": ["1e-4", "3e-4"]} and space == {"model.n_layer": {"choice": [2, 4]}}
    with pytest.raises(UserError, match="sweep space"):
        panel.parse_space("training.lr: [1e-4\n")
    with pytest.raises(UserError, match="one `section.key"):
        panel.parse_space("just text")


def test_spec_takes_the_form_as_base_and_only_changed_fields(ctx):
    spec = panel.build_spec(
        ctx,
        "",
        "training.lr: [1e-4, 1e-3]\ntraining.weight_decay: {uniform: [0, 0.1]}",
        3,
        7,
        "eval_loss",
        "min",
        *_form(ctx, training__max_steps=7),
    )
    assert spec["name"] == "tiny-sweep" and spec["base"] == "tiny" and spec["trials"] == 3 and spec["seed"] == 7
    assert spec["overrides"] == ["data.train_path=syn", "data.tokenizer_path=tok", "training.max_steps=7"]
    assert spec["grid"] == {"training.lr": ["1e-4", "1e-3"]}
    assert spec["random"] == {"training.weight_decay": {"uniform": [0, 0.1]}}


def test_bad_sweep_shows_every_problem_and_starts_nothing(ctx):
    form = _form(ctx, training__lr=-1.0)
    form[1] = "no-such-corpus"
    message = panel.start_sweep(ctx, "bad", "training.batch_size: [8, 0]\ntraining.lrr: [1]", 1, 0, "eval_loss", "min", *form)
    for where in ("data.train_path", "training.lr", "grid.training.lrr", "bad-bs0: training.batch_size"):
        assert where in message, message
    with ctx.history() as h:
        assert h.list_runs() == [] and sweep_runs.list_sweeps(h) == []


def test_start_queues_every_trial_and_a_taken_name_gets_a_suffix(ctx):
    form = _form(ctx, training__max_steps=100000, training__save_steps=0)
    message = panel.start_sweep(ctx, "ui", "training.seed: [1, 2]", 1, 0, "eval_loss", "min", *form)
    again = panel.start_sweep(ctx, "ui", "training.seed: [3]", 1, 0, "eval_loss", "min", *form)
    try:
        assert "**Sweep ui**: 2 trial(s) queued" in message and "| ui-seed1 | 1 |" in message
        assert "**Sweep ui-2**: 1 trial(s)" in again and "ui-2-seed3" in again
        with ctx.history() as h:
            trials = sweep_runs.get(h, "ui")["trials"]
            assert [t["run"] for t in trials] == ["ui-seed1", "ui-seed2"]
            assert h.get_run("ui-seed2").config["training"]["max_steps"] == 100000
            command = sweep_runs.get(h, "ui")["command"]
        argv = shlex.split(command)
        assert argv[:3] == ["babyllama", "sweep", "--config"] and argv[-2:] == ["--name", "ui"]
        assert f"Same as `{command}`" in message
        replanned = sweep.plan(sweep.read_spec(Path(argv[3])), name="ui-again")
        assert [t.overrides for t in replanned.trials] == [
            t.overrides
            for t in sweep.plan(panel.build_spec(ctx, "ui", "training.seed: [1, 2]", 1, 0, "eval_loss", "min", *form)).trials
        ]
    finally:
        with ctx.history() as h:
            for name in ("ui", "ui-2"):
                sweep_runs.stop(h, name)
            _wait_final(h, ["ui-seed1", "ui-seed2", "ui-2-seed3"])


def test_choosing_a_sweep_selects_its_runs_with_table_and_plot(ctx):
    from tests.core.sweep.test_runs import insert_sweep

    with ctx.history() as h:
        h.create_run("other", "train", {}, None)
        insert_sweep(
            h,
            "sw",
            [
                ("sw-a", {"training.lr": 1e-4}, [(5, 3.0)]),
                ("sw-b", {"training.lr": 1e-3}, [(5, 2.0)]),
                ("sw-c", {"training.lr": 1e-2}, []),
            ],
        )
    assert panel.sweep_choices(ctx) == ["sw"]
    selected, table, fig = panel.show_sweep(ctx, "sw", ["other"])
    assert selected["value"] == ["sw-a", "sw-b", "sw-c"] and {"other", "sw-a"} <= set(selected["choices"])
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["best", "run", "status", "where", "training.lr", "eval_loss"]
    assert table.loc[table["best"] == "★", "run"].tolist() == ["sw-b"]
    assert pd.isna(table.loc[table["run"] == "sw-c", "eval_loss"]).all()
    stars = [t for t in fig.data if t.name == "best trial"]
    assert list(stars[0].text) == ["sw-b"] and list(stars[0].y) == [2.0]
    # The curves, config diff and evals follow the selection through compare's own handlers.
    assert len(compare_tab.overlay(ctx, selected["value"], "eval_loss", "step", 0.0).data) == 3
    unchanged, empty, _ = panel.show_sweep(ctx, None, ["other"])
    assert unchanged == gr.update() and empty.empty
    with gr.Blocks():
        r = panel.build_results(ctx, gr.Dropdown(multiselect=True))
    out = panel.poll_sweep(ctx, "sw", r)  # every trial final: the timer stops
    table, summary, timer = out[r.table], out[r.summary], out[r.timer]
    assert table.loc[table["best"] == "★", "run"].tolist() == ["sw-b"]
    assert summary == "best: **sw-b** eval_loss 2 (step 5) · 3 trials: 3 finished" and timer.active is False


def test_the_best_so_far_line_counts_each_trials_scheduler_state():
    def row(run, status, state=None, value=None, best=False):
        return {"run": run, "status": status, "scheduler_state": state, "value": value, "value_step": 40, "best": best}

    rows = [
        row("sw-0", "running", "RUNNING", 2.5),
        row("sw-1", "running", "RUNNING", 2.01, best=True),
        row("sw-2", "queued", "PENDING (JobArrayTaskLimit)"),
        row("sw-3", "queued", "PENDING (JobArrayTaskLimit)"),
        row("sw-4", "finished", "COMPLETED", 2.2),
    ]
    line = panel.best_so_far({"metric": "eval_loss", "rows": rows})
    assert line == (
        "best so far: **sw-1** eval_loss 2.01 (step 40) · 5 trials: 2 running, 2 pending on SLURM (JobArrayTaskLimit), 1 finished"
    )
    waiting = panel.best_so_far({"metric": "loss", "rows": [row("sw-0", "queued", "PENDING (Resources)")]})
    assert waiting == "no loss logged yet · 1 trials: 1 pending on SLURM (Resources)"


def test_tabs_build_with_the_sweep_sections(ctx):
    with gr.Blocks():
        with gr.Tab("Train"):
            train_tab.build(ctx)
        with gr.Tab("Compare"):
            compare_tab.build(ctx)
    with gr.Blocks() as demo:
        launcher = panel.build_launcher(ctx, [gr.Dropdown(["tiny"], value="tiny"), gr.Dropdown(), gr.Dropdown()])
        results = panel.build_results(ctx, gr.Dropdown(multiselect=True))
    assert launcher.space.value == panel.SPACE_EXAMPLE and results.sweep.label == "sweep"
    assert len(demo.fns) >= 3


def _wait_final(h, names, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(sweep_runs.jobs.refresh(h, n).status in FINAL for n in names):
            return
        time.sleep(0.3)
    raise AssertionError(f"{names} did not stop")
