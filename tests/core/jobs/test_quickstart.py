"""core.jobs.quickstart: free names, the empty-workspace test, and the chain's order and failure handling
with the job launches faked (the real chain is the `slow` CLI test and the browser test)."""

from __future__ import annotations

import os

import pytest

from core import jobs
from core.data import create_synthetic_corpus
from core.errors import UserError
from core.jobs import quickstart, spawn


class FakeProc:
    pid = os.getpid()  # a live process: the row stays `queued` until the test sets its status


@pytest.fixture
def launches(monkeypatch):
    calls = []
    monkeypatch.setattr(spawn, "_launch", lambda run_dir, n: calls.append(run_dir.name) or FakeProc())
    return calls


def test_empty_workspace_and_default_plan(workspace, history):
    assert quickstart.is_empty(workspace, history)
    plan = quickstart.plan(workspace, history)
    assert (plan["corpus"], plan["tokenizer"], plan["run"]) == ("sample", "sample-bpe2000", "tiny-sample")
    create_synthetic_corpus(workspace, "sample", n_words=500)
    assert not quickstart.is_empty(workspace, history)


def test_plan_takes_free_names_when_the_sample_exists(workspace, history):
    create_synthetic_corpus(workspace, "sample", n_words=500)
    history.create_run("tiny-sample-2", "train", {}, None)
    plan = quickstart.plan(workspace, history, words=1000, vocab_size=None)
    assert plan["corpus"] == "sample-2" and plan["tokenizer"] == "sample-2-bpe2000"
    assert plan["run"] == "tiny-sample-2-2" and plan["words"] == 1000 and plan["vocab_size"] == 2000


def test_start_writes_one_quickstart_job_with_the_plan(workspace, history, launches):
    row = quickstart.start(workspace, history)
    assert (row.name, row.kind, row.status) == ("quickstart", "quickstart", "queued")
    assert row.config["run"] == "tiny-sample" and launches == ["quickstart"]
    with pytest.raises(UserError, match="no preset named 'nope'"):
        quickstart.start(workspace, history, preset="nope")


def _finish_on_launch(monkeypatch, history, outcome: dict):
    """Each launched prepare/tokenize job ends at once with the status `outcome` gives its kind."""
    started = []

    def fake_start_task(kind, params, ws, h, *, name, command=""):
        started.append((kind, name, command))
        h.create_run(name, kind, params, None, command=command)
        h.set_status(name, outcome.get(kind, "finished"), error="boom" if outcome.get(kind) == "failed" else None)

    monkeypatch.setattr(jobs, "start_task", fake_start_task)
    monkeypatch.setattr(jobs, "start", lambda kind, cfg, ws, h, *, name, command="": started.append((kind, name, command)))
    return started


def test_chain_runs_corpus_then_tokenizer_then_the_tiny_run(workspace, history, monkeypatch):
    started = _finish_on_launch(monkeypatch, history, {})
    monkeypatch.setattr(quickstart, "train_config", lambda params, ws: None)  # no tokenizer on disk here
    history.create_run("qs", "quickstart", {}, None)
    run = quickstart.run_chain(quickstart.plan(workspace, history), workspace, history, job="qs", log=lambda m: None)
    assert run == "tiny-sample"
    assert [(k, n) for k, n, _ in started] == [
        ("prepare", "prepare-sample"),
        ("tokenize", "tokenize-sample-bpe2000"),
        ("train", "tiny-sample"),
    ]
    assert "babyllama data synth --name sample --words 200000" in started[0][2]
    assert "data.tokenizer_path=sample-bpe2000" in started[2][2] and "model.name=tiny-sample" in started[2][2]
    assert history.get_run("qs").step == 3


def test_a_failed_step_stops_the_chain_and_names_it(workspace, history, monkeypatch):
    started = _finish_on_launch(monkeypatch, history, {"tokenize": "failed"})
    with pytest.raises(UserError, match="the tokenize job 'tokenize-sample-bpe2000' ended failed: boom"):
        quickstart.run_chain(quickstart.plan(workspace, history), workspace, history, log=lambda m: None)
    assert [k for k, _, _ in started] == ["prepare", "tokenize"]  # no training run started


def test_train_config_is_tiny_on_the_new_data(workspace, history):
    cfg = quickstart.train_config(quickstart.plan(workspace, history, max_steps=50), workspace)
    assert (cfg.model.name, cfg.training.max_steps, cfg.data.train_path, cfg.data.tokenizer_path) == (
        "tiny-sample",
        50,
        "sample",
        "sample-bpe2000",
    )


def test_quickstart_imports_neither_torch_nor_gradio():
    import subprocess
    import sys

    code = "import sys, core.jobs.quickstart; print(sorted({'torch', 'gradio', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _as_if_made(history, kind, name, config):
    history.create_run(name, kind, config, None)
    history.set_status(name, "finished")


def test_a_second_quickstart_reuses_the_sample_corpus_and_tokenizer(workspace, history, monkeypatch):
    first = quickstart.plan(workspace, history)
    create_synthetic_corpus(workspace, "sample", n_words=500)
    _as_if_made(
        history,
        "prepare",
        "prepare-sample",
        {"source": "synthetic", "output": "sample", "words": 200_000, "complexity": "simple", "seed": 42},
    )
    (workspace.tokenizers_dir / "sample-bpe2000").mkdir(parents=True)
    (workspace.tokenizers_dir / "sample-bpe2000" / "tokenizer.json").write_text("{}")
    _as_if_made(
        history,
        "tokenize",
        "tokenize-sample-bpe2000",
        {"data": "sample", "vocab_size": 2000, "min_frequency": 2, "output": "sample-bpe2000"},
    )
    history.create_run(first["run"], "train", {}, None)
    again = quickstart.plan(workspace, history)
    assert (again["corpus"], again["tokenizer"], again["run"]) == ("sample", "sample-bpe2000", "tiny-sample-2")
    assert again["reuse_corpus"] and again["reuse_tokenizer"]
    assert quickstart.describe_plan(again) == (
        "corpus sample (reused), tokenizer sample-bpe2000 (reused), run tiny-sample-2 (new)"
    )
    started = _finish_on_launch(monkeypatch, history, {})
    monkeypatch.setattr(quickstart, "train_config", lambda params, ws: None)
    quickstart.run_chain(again, workspace, history, log=lambda m: None)
    assert [(k, n) for k, n, _ in started] == [("train", "tiny-sample-2")]  # no new corpus or tokenizer
    other = quickstart.plan(workspace, history, words=1000)  # other settings: a new corpus, said so
    assert other["corpus"] == "sample-2" and not other["reuse_corpus"] and "(new)" in quickstart.describe_plan(other)
