"""core.recipe.chain with fake step states: finished steps are skipped, a failed training run is
resumed, a failed eval restarted, a running job waited for, and the first step that does not
finish stops the chain (the real chain is tests/core/recipe/test_recipe_e2e.py, slow)."""

from __future__ import annotations

import json

import pytest

from core import jobs
from core.errors import UserError
from core.recipe import babyllama2023 as recipe
from core.recipe import chain


@pytest.fixture
def opts(workspace):
    o = chain.RecipeOptions(data="/data/babylm_10M", tokenizer="tok", scale="tiny")
    chain.chain_dir(o, workspace).mkdir(parents=True)
    (chain.chain_dir(o, workspace) / chain.GPU_FILE).write_text(json.dumps({"skipped": True, "note": "no CUDA"}))
    return o


@pytest.fixture
def calls(monkeypatch, history):
    """Record what the chain does; a started, resumed or waited-for job finishes at once."""
    log = []

    def finish(name):
        if history.get_run(name) is None:
            history.create_run(name, "train", {}, None)
        history.set_status(name, "finished")

    monkeypatch.setattr(
        chain,
        "_start_step",
        lambda o, step, ws, h: (
            log.append(("start", step.name))
            or finish(chain.job_name(o, step) if step.kind == "eval" else chain.run_name(o, step.model))
        ),
    )
    monkeypatch.setattr(chain, "_wait", lambda step, name, h: log.append(("wait", step.name)) or finish(name))
    monkeypatch.setattr(jobs, "resume", lambda name, ws, h: log.append(("resume", name)))
    monkeypatch.setattr(jobs, "refresh", lambda h, name: h.get_run(name))
    monkeypatch.setattr("core.recipe.table.write_table", lambda o, ws: log.append(("table",)) or "table")
    return log


def _row(history, name, status):
    history.create_run(name, "eval", {}, None)
    history.set_status(name, status)


def test_resume_skips_finished_retries_failed_and_waits_for_running(workspace, history, opts, calls):
    _row(history, "babyllama-2023-tiny-gpt2-705M", "finished")
    _row(history, "babyllama-2023-tiny-llama-360M", "failed")
    _row(history, "babyllama-2023-tiny-eval-gpt2-705M", "running")
    _row(history, "babyllama-2023-tiny-eval-llama-360M", "stopped")
    states = {s.step.name: s.state for s in chain.status(opts, workspace, history)}
    assert states == {
        "gpu-check": "skipped",
        "tokenizer": "skipped",
        "gpt2-705M": "done",
        "llama-360M": "failed",
        "llama-58M": "todo",
        "eval-gpt2-705M": "running",
        "eval-llama-360M": "failed",
        "eval-llama-58M": "todo",
        "table": "todo",
    }
    chain.run(opts, workspace, history, log=lambda m: None)
    assert calls == [
        ("resume", "babyllama-2023-tiny-llama-360M"),
        ("wait", "llama-360M"),
        ("start", "llama-58M"),
        ("wait", "llama-58M"),
        ("wait", "eval-gpt2-705M"),
        ("start", "eval-llama-360M"),
        ("wait", "eval-llama-360M"),
        ("start", "eval-llama-58M"),
        ("wait", "eval-llama-58M"),
        ("table",),
    ]
    assert history.get_run("babyllama-2023-tiny-eval-llama-360M").status == "finished"  # deleted, started again
    calls.clear()
    chain.run(opts, workspace, history, log=lambda m: None)  # everything done: only the table is rewritten
    assert calls == [("table",)]


def test_a_step_that_fails_stops_the_chain_and_names_itself(workspace, history, opts, monkeypatch):
    _row(history, "babyllama-2023-tiny-gpt2-705M", "finished")
    started = []
    monkeypatch.setattr(chain, "POLL_S", 0.01)
    monkeypatch.setattr(
        chain, "_start_step", lambda o, step, ws, h: started.append(step.name) or _row(h, chain.run_name(o, step.model), "failed")
    )
    monkeypatch.setattr(jobs, "refresh", lambda h, name: h.get_run(name))
    with pytest.raises(
        UserError,
        match=r"recipe step llama-360M: job babyllama-2023-tiny-llama-360M ended failed.*"
        r"run the same `babyllama recipe` command again",
    ):
        chain.run(opts, workspace, history, log=lambda m: None)
    assert started == ["llama-360M"]  # nothing after the failed step started
    states = {s.step.name: s.state for s in chain.status(opts, workspace, history)}
    assert states["gpt2-705M"] == "done" and states["llama-360M"] == "failed" and states["llama-58M"] == "todo"


def test_tiny_scale_is_recorded_and_the_student_distills_from_both_teachers(workspace):
    from core.recipe import steps

    o = chain.RecipeOptions(data="/d", scale="tiny")
    assert o.name == "babyllama-2023-tiny" and o.to_dict()["published"] is False
    assert chain.RecipeOptions(data="/d").to_dict()["published"] is True
    student = next(s for s in recipe.STEPS if s.kind == "distill")
    over = steps.model_overrides(o, student)
    assert "distillation.teacher_models=babyllama-2023-tiny-gpt2-705M,babyllama-2023-tiny-llama-360M" in over
    assert "distillation.kl_reduction=sequence" in over and "training.max_steps=12" in over
    assert "data.tokenizer_path=babyllama-2023-tiny-bpe1000" in over
    assert recipe.preset_for(student, "tiny") == "tiny" and recipe.preset_for(student, "published") == student.preset
    with pytest.raises(UserError, match="--scale huge"):
        chain.RecipeOptions(data="/d", scale="huge")
