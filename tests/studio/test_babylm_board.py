"""BabyLM in the studio: the Evaluate tab's babylm options and job, and the Compare tab's scoreboard
(one row per evaluated run or checkpoint, one column per task, scores against words seen), on real
evaluations of a tiny model saved as a run, and on rows written straight into the history."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

import gradio as gr
import pytest

from core.evaluate.options import EvalOptions
from core.evaluate.runner import run_eval
from studio.context import StudioContext
from studio.panels import babylm_board as board
from studio.tabs import evaluate as eval_tab
from tests.core.evaluate.babylm_fixtures import make_model, make_tokenizer, write_evaluation_data

FAST_TASKS = ["blimp/blimp_fast", "entity_tracking/entity_tracking_fast"]


def _start(ctx, *args) -> tuple:
    """start_eval's answer as (job, status, log, timer); a refusal answers only the status."""
    with gr.Blocks():
        c = eval_tab.build(ctx)
    out = eval_tab.start_eval(ctx, *args, c=c)
    return tuple(out.get(k) for k in c.panel.outputs)


def fake_run(ctx: StudioContext, name: str, steps: int = 10, words_per_step: int | None = 100):
    """A finished run whose final model (and checkpoint-5) is a tiny random Llama with a BOS tokenizer,
    with metric rows at every step (words seen = words_per_step x step, or none)."""
    run_dir = ctx.workspace.run_dir(name)
    tokenizer = make_tokenizer(run_dir, add_bos=True)
    model = make_model(len(tokenizer))
    model.save_pretrained(str(run_dir))
    checkpoint = run_dir / "checkpoint-5"
    model.save_pretrained(str(checkpoint))
    tokenizer.save_pretrained(str(checkpoint))
    with ctx.history() as h:
        h.create_run(name, "train", {}, run_dir, total_steps=steps)
        for step in range(1, steps + 1):
            words = words_per_step * step if words_per_step else None
            h.log_metrics(name, step, {"loss": 6.0 - 0.1 * step}, tokens=4 * step, words=words)
        h.set_status(name, "finished", started=1000.0, ended=1100.0)
    return run_dir


def babylm_eval(ctx: StudioContext, model: str) -> dict:
    opts = EvalOptions(
        model=model, suites=("babylm",), babylm_data=str(ctx.workspace.root / "evaluation_data"), fast=True, suites_given=True
    )
    with ctx.history() as h:
        results, _ = run_eval(opts, ctx.workspace, history=h, log=lambda *_: None)
    return results


@pytest.fixture
def ctx(workspace):
    return StudioContext(workspace)


def test_words_at_exact_interpolated_after_last_and_unknown():
    rows = [
        {"step": 2, "words": 200},
        {"step": 4, "words": 400},
        {"step": 4, "words": 400},
        {"step": 6, "words": None},
        {"step": 8, "words": 900},
    ]
    assert board.words_at(rows, [2, 3, 8, 10, 1, None]) == {2: 200, 3: 300, 8: 900, 10: 900, 1: None}
    assert board.words_at([], [5]) == {5: None}


def test_real_evaluations_of_a_run_and_its_checkpoint_fill_the_scoreboard(ctx):
    write_evaluation_data(ctx.workspace.root)
    fake_run(ctx, "bl")
    checkpoint = babylm_eval(ctx, "bl/checkpoint-5")
    final = babylm_eval(ctx, "bl")
    table, figure = board.scoreboard(ctx, [])  # nothing selected: every run with BabyLM scores
    assert list(table.columns) == [*board.KEY_COLUMNS, *FAST_TASKS]
    rows = table.to_dict("records")
    assert [(r["run"], r["revision"], r["step"], r["words seen"], r["set"]) for r in rows] == [
        ("bl", "checkpoint-5", 5, "500", "fast"),
        ("bl", "main", 10, "1,000", "fast"),
    ]
    for row, results in zip(rows, (checkpoint, final)):
        scoreboard = results["suites"]["babylm"]["scoreboard"]
        assert [row[t] for t in FAST_TASKS] == [round(scoreboard[t], 3) for t in FAST_TASKS]
    # One panel per task, the run's line through both evaluations against words seen.
    traces = [t for t in figure.data if t.name == "bl"]
    assert len(traces) == len(FAST_TASKS) and all(list(t.x) == [500, 1000] for t in traces)
    assert figure.layout.xaxis.title.text == "words seen"
    assert board.scoreboard(ctx, ["bl"])[0].equals(table)


def test_runs_overlay_and_words_unknown_falls_back_to_step(ctx, tmp_path):
    """Rows written with log_eval: field rows stay out, a second run overlays, a run without words
    seen puts every panel on steps, the revision comes from the evaluation's results.json."""
    with ctx.history() as h:
        for name, words in (("a", 10), ("b", None)):
            h.create_run(name, "train", {}, None, total_steps=4)
            for step in range(1, 5):
                h.log_metrics(name, step, {"loss": 1.0}, words=words * step if words else None)
        eval_dir = tmp_path / "a-eval"
        eval_dir.mkdir()
        (eval_dir / "results.json").write_text(
            json.dumps({"options": {"fast": False}, "suites": {"babylm": {"layout": "results/a/chck_1M/zero_shot/causal"}}})
        )
        for name, step, value, where in (("a", 2, 60.0, eval_dir), ("a", 4, 70.0, None), ("b", 4, 55.0, None)):
            h.log_eval(
                name,
                step,
                "babylm",
                "blimp/blimp_filtered",
                value,
                {"metric": "accuracy", "temperature": 1.0, "n": 6, "eval_dir": str(where) if where else None},
            )
            h.log_eval(name, step, "babylm", "blimp/blimp_filtered/field/syntax", 1.0, {"eval_dir": None})
    table, figure = board.scoreboard(ctx, ["a", "b"])
    assert table[["run", "revision", "step", "words seen", "set", "blimp/blimp_filtered"]].values.tolist() == [
        ["a", "chck_1M", 2, "20", "full", 60.0],
        ["a", "main", 4, "40", "full", 70.0],
        ["b", "main", 4, "", "full", 55.0],
    ]
    assert figure.layout.xaxis.title.text == "step"
    assert {t.name: list(t.x) for t in figure.data} == {"a": [2, 4], "b": [4]}
    assert board.scoreboard(ctx, ["b"])[0]["run"].tolist() == ["b"]
    empty, figure = board.scoreboard(ctx, ["nobody"])
    assert empty.empty and "no BabyLM evaluations" in figure.layout.title.text


def test_evaluate_tab_babylm_options_and_command(ctx):
    fake = "bl"
    out = _start(ctx, fake, ["babylm"], 0, "", False, "")
    assert "BabyLM data folder" in out[1]  # no folder given, none in the workspace
    out = _start(ctx, fake, ["babylm"], 0, str(ctx.workspace.root / "nowhere"), False, "")
    assert "no folder at" in out[1]
    write_evaluation_data(ctx.workspace.root)
    assert eval_tab.babylm_folders(ctx)[0] == str(ctx.workspace.root / "evaluation_data")
    out = _start(ctx, fake, ["babylm"], 0, "", True, "warm")
    assert "--temperatures" in out[1]  # refused with the CLI flag's message
    with ctx.history() as h:
        assert h.list_runs(kind="eval") == []
    opts = EvalOptions(model="bl", suites=("ppl", "babylm"), babylm_data="/data/evaluation_data", fast=True, temperatures="1,2")
    assert eval_tab.eval_args(opts) == [
        "eval",
        "bl",
        "--suite",
        "ppl,babylm",
        "--babylm-data",
        "/data/evaluation_data",
        "--fast",
        "--temperatures",
        "1,2",
    ]
    assert eval_tab.eval_args(EvalOptions(model="bl", suites=("ppl",), fast=True)) == ["eval", "bl", "--suite", "ppl"]
    # The arithmetic radio: --exact is the CLI's default (not shown), the fast path is --no-exact.
    fast_path = EvalOptions(model="bl", suites=("babylm",), babylm_data="/d", exact=False)
    assert eval_tab.eval_args(fast_path) == ["eval", "bl", "--suite", "babylm", "--babylm-data", "/d", "--no-exact"]
    assert eval_tab.eval_args(EvalOptions(model="bl", suites=("ppl",), exact=False)) == ["eval", "bl", "--suite", "ppl"]
    out = _start(ctx, fake, ["babylm"], 0, "", False, "", "float16")
    assert "BabyLM arithmetic" in out[1] and eval_tab.EXACT_LABEL in out[1]
    with ctx.history() as h:
        assert h.list_runs(kind="eval") == []


def _cli_options(command: str) -> dict:
    """The EvalOptions the CLI builds from a shown `babyllama eval ...` command line."""
    from core.cli import build_parser
    from core.cli.eval_cmds import _options

    argv = shlex.split(command)
    assert argv[0] == "babyllama"
    return _options(build_parser().parse_args(argv[1:])).to_dict()


def test_evaluate_tab_glue_and_aoa_options_start_the_cli_job(ctx):
    from core import jobs
    from core.history import FINAL

    write_evaluation_data(ctx.workspace.root)
    folder = str(ctx.workspace.root / "evaluation_data")
    last = "last token (NOT the official rule)"
    assert eval_tab.eval_args(
        EvalOptions(model="bl", suites=("glue", "aoa"), babylm_data=folder, tasks="rte,wsc", pooling="last", epochs=2)
    ) == [
        "eval",
        "bl",
        "--suite",
        "glue,aoa",
        "--babylm-data",
        folder,
        "--tasks",
        "rte,wsc",
        "--pooling",
        "last",
        "--epochs",
        "2",
    ]
    out = _start(ctx, "bl", ["glue"], 0, "", False, "", eval_tab.EXACT_LABEL, ["rte"], "mean", 0)
    assert "GLUE pooling" in out[1] and last in out[1]
    out = _start(ctx, "bl", ["glue"], 0, "", False, "", eval_tab.EXACT_LABEL, ["cola"], last, 0)
    assert "GLUE tasks: choose from boolq" in out[1]
    with ctx.history() as h:
        assert h.list_runs(kind="eval") == []
    fake_run(ctx, "bl")
    job, status, _, timer = _start(
        ctx, "bl", ["glue", "aoa"], 0, "", True, "1,2", eval_tab.FAST_PATH_LABEL, ["wsc", "rte"], last, 3
    )
    assert timer.active and f"--suite glue,aoa --babylm-data {folder} --tasks rte,wsc --pooling last --epochs 3" in status
    with ctx.history() as h:
        run = h.get_run(job)
        assert _cli_options(run.command) == run.config  # what the CLI would run, flag for flag
        assert (run.config["fast"], run.config["temperatures"], run.config["exact"]) == (False, "", True)
        deadline = time.monotonic() + 120  # no GLUE files in this data: the job stops at its plan
        while jobs.refresh(h, job).status not in FINAL and time.monotonic() < deadline:
            time.sleep(0.5)
        assert h.get_run(job).status == "failed"
    # Every task ticked is all seven: no --tasks.
    opts = EvalOptions(model="bl", suites=("glue",), **eval_tab._glue_options(("glue",), list(eval_tab.GLUE_TASKS), None, 0))
    assert eval_tab.eval_args(opts) == ["eval", "bl", "--suite", "glue"]


def test_evaluate_tab_runs_the_babylm_suite_as_a_job(ctx):
    write_evaluation_data(ctx.workspace.root)
    fake_run(ctx, "bl")
    job, status, _, timer = _start(ctx, "bl", ["babylm"], 0, "", True, "1,2", eval_tab.FAST_PATH_LABEL)
    assert timer.active
    folder = ctx.workspace.root / "evaluation_data"
    assert f"--suite babylm --babylm-data {folder} --fast --temperatures 1,2 --no-exact" in status
    with ctx.history() as h:
        run = h.get_run(job)
    # The job runs exactly what its shown command runs through the CLI.
    assert run.config["exact"] is False and _cli_options(run.command) == run.config
    with gr.Blocks():
        c = eval_tab.build(ctx)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        out = eval_tab.poll_eval(ctx, job, "bl", c)
        status, log, timer = out[c.panel.status], out[c.panel.log], out[c.panel.timer]
        if not timer.active:
            break
        time.sleep(0.5)
    results, report = out[c.results], out[c.report]
    assert "finished" in status, status + log
    babylm = results[results["suite"] == "babylm"]
    assert set(FAST_TASKS) <= set(babylm["metric"]) and report.endswith("report.html")
    assert board.scoreboard(ctx, ["bl"])[0]["run"].tolist() == ["bl"]
    results = json.loads((Path(report).parent / "results.json").read_text(encoding="utf-8"))
    assert results["options"]["exact"] is False and results["suites"]["babylm"]["rule"]["exact"] is False
