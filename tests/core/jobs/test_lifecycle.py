"""core.jobs (spawn, refresh, control) + core.jobs.worker with real subprocesses: lifecycle, stop/resume, queue, bad input."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from core import config, jobs
from core.config.presets import find
from core.errors import ConfigError, UserError
from core.history import FINAL, History
from core.train import checkpoint as ckpt

BASE = [
    "data.train_path=syn",
    "data.tokenizer_path=tok",
    "training.logging_steps=5",
    "training.eval_steps=0",
    "training.save_steps=10",
]


def _cfg(*extra):
    return config.load(find("tiny"), [*BASE, *extra])


def _wait(history, name, done, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = jobs.refresh(history, name)
        if done(run):
            return run
        time.sleep(0.2)
    log = Path(run.run_dir, "run.log").read_text(errors="replace")
    raise AssertionError(f"run {name} stuck at {run.status} (step {run.step}):\n{log[-3000:]}")


def _final(history, name, timeout=120):
    return _wait(history, name, lambda r: r.status in FINAL, timeout)


@pytest.fixture
def history(ready_workspace):
    with History(ready_workspace.db_path) as h:
        yield h


def test_run_finishes_with_row_log_metrics_and_model(ready_workspace, history):
    run = jobs.start(
        "train", _cfg("training.max_steps=20"), ready_workspace, history, name="r1", command="babyllama train --config tiny"
    )
    assert run.status == "queued" and run.pid and run.command.startswith("babyllama train")
    run = _final(history, "r1")
    assert run.status == "finished", run.error
    assert run.step == 20 and run.total_steps == 20 and run.started and run.ended
    steps = sorted({m["step"] for m in history.metrics_since("r1", -1) if m["name"] == "loss"})
    assert steps == [5, 10, 15, 20]
    run_dir = Path(run.run_dir)
    log = (run_dir / "run.log").read_text()
    assert "step 20/20" in log and "ETA" in log and "tok/s" in log
    assert (run_dir / "model.safetensors").is_file() and (run_dir / "config.yaml").is_file()
    assert config.load(run_dir / "config.yaml").training.max_steps == 20


def test_killed_worker_becomes_lost_and_nan_run_fails_with_hint(ready_workspace, history, monkeypatch):
    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "2")
    jobs.start("train", _cfg("training.max_steps=100000", "training.save_steps=0"), ready_workspace, history, name="victim")
    jobs.start(
        "train",
        _cfg("training.lr=1e4", "training.max_grad_norm=0", "training.warmup_steps=0", "training.max_steps=200"),
        ready_workspace,
        history,
        name="nan",
    )
    run = _wait(history, "victim", lambda r: r.status == "running" and (r.step or 0) >= 5)
    os.kill(run.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    run = _wait(history, "victim", lambda r: r.status != "running", timeout=10)
    assert run.status == "lost" and time.monotonic() - killed_at < 10
    nan = _final(history, "nan")
    assert nan.status == "failed" and "TrainingDiverged" in nan.error
    assert "training.lr" in nan.hint and "clipping" in nan.hint


STOP_STEPS = 400


def test_stop_checkpoints_and_resume_continues_the_same_run(ready_workspace, history):
    # Long enough that a fast machine cannot finish between seeing step 10 and the stop request.
    jobs.start("train", _cfg(f"training.max_steps={STOP_STEPS}", "training.save_steps=0"), ready_workspace, history, name="sr")
    _wait(history, "sr", lambda r: r.status == "running" and (r.step or 0) >= 10)
    assert jobs.stop("sr", history) == "requested"
    run = _final(history, "sr", timeout=600)  # 400 tiny steps: seconds idle, minutes on a loaded machine
    assert run.status == "stopped" and 10 <= run.step < STOP_STEPS
    stopped_at = run.step
    assert ckpt.list_checkpoints(run.run_dir)[-1].name == f"checkpoint-{stopped_at}"
    resumed = jobs.resume("sr", ready_workspace, history)
    assert resumed.id == run.id
    run = _final(history, "sr", timeout=600)
    assert run.status == "finished" and run.step == STOP_STEPS
    rows = [(m["step"], m["name"]) for m in history.metrics_since("sr", -1)]
    assert len(rows) == len(set(rows))  # replaced, never duplicated
    assert sorted(s for s, n in rows if n == "loss") == list(range(5, STOP_STEPS + 1, 5))
    assert f"step {STOP_STEPS}/{STOP_STEPS}" in Path(run.run_dir, "run.log").read_text()


def test_queue_runs_one_at_a_time_in_order(ready_workspace, history):
    jobs.start("train", _cfg("training.max_steps=30"), ready_workspace, history, name="first")
    jobs.start("train", _cfg("training.max_steps=5"), ready_workspace, history, name="second")
    _wait(history, "first", lambda r: r.status == "running")
    time.sleep(1.0)
    assert history.get_run("second").status == "queued"
    assert jobs.queue_position(history, "second") == 1
    first, second = _final(history, "first"), _final(history, "second")
    assert first.status == second.status == "finished"
    assert second.started >= first.ended - 0.5


def test_two_runs_at_once_with_readers_lose_no_rows(ready_workspace, history, monkeypatch):
    monkeypatch.setenv(jobs.MAX_JOBS_ENV, "2")
    for name in ("p1", "p2"):
        jobs.start("train", _cfg("training.max_steps=60", "training.logging_steps=1"), ready_workspace, history, name=name)
    errors, polls = [], [0]

    def poll():
        with History(ready_workspace.db_path) as reader:
            while not all(reader.get_run(n).status in FINAL for n in ("p1", "p2")):
                try:
                    for n in ("p1", "p2"):
                        reader.metrics_since(n, -1)
                    polls[0] += 1
                except Exception as err:  # "database is locked" would land here
                    errors.append(err)
                time.sleep(0.05)

    reader = threading.Thread(target=poll)
    reader.start()
    runs = [_final(history, n) for n in ("p1", "p2")]
    reader.join(timeout=30)
    assert not errors and polls[0] > 10
    for run in runs:
        assert run.status == "finished"
        assert [s for s, _ in history.metric_series(run.name, "loss")] == list(range(1, 61))


def test_bad_input_is_refused_before_anything_is_written(ready_workspace, history, tmp_path):
    with pytest.raises(ConfigError, match="data.tokenizer_path"):
        jobs.start("train", _cfg("data.tokenizer_path=nope"), ready_workspace, history, name="x1")
    assert history.get_run("x1") is None and not (ready_workspace.models_dir / "x1").exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(UserError, match="logging.output_dir"):
        jobs.start("train", _cfg(f"logging.output_dir={blocker}/runs"), ready_workspace, history, name="x2")
    assert history.get_run("x2") is None


def test_taken_name_and_corrupted_checkpoint(ready_workspace, history):
    jobs.start("train", _cfg("training.max_steps=20"), ready_workspace, history, name="dup")
    with pytest.raises(UserError, match="already exists.*dup-2"):
        jobs.start("train", _cfg(), ready_workspace, history, name="dup")
    run = _final(history, "dup")
    history.set_status("dup", "stopped")  # pretend it was stopped, to try resuming it
    ckpt_dir = Path(run.run_dir) / "checkpoint-20"
    weights = ckpt_dir / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-10] ^= 0xFF
    weights.write_bytes(bytes(blob))
    with pytest.raises(UserError, match="corrupted"):
        jobs.resume("dup", ready_workspace, history, checkpoint=ckpt_dir)
    assert weights.is_file() and history.get_run("dup").status == "stopped"
    # Without an explicit checkpoint, the broken newest one is skipped for the older intact one.
    assert ckpt.latest_valid(run.run_dir, log=lambda m: None).name == "checkpoint-10"


@pytest.mark.slow
def test_kill_9_and_resume_gives_bit_exact_weights(ready_workspace, history, tmp_path):
    pairs = tmp_path / "pairs"  # minimal pairs too: their series must come out the same, once each
    pairs.mkdir()
    (pairs / "agreement.jsonl").write_text(
        "\n".join(
            json.dumps({"sentence_good": f"The {w} sleeps.", "sentence_bad": f"The {w} sleep."}) for w in ("cat", "dog", "bird")
        )
        + "\n"
    )
    extra = (
        "training.max_steps=40",
        "training.save_steps=10",
        "model.dropout=0.1",
        "eval.pairs_every=10",
        f"eval.pairs_dir={pairs}",
    )
    jobs.start("train", _cfg(*extra), ready_workspace, history, name="straight")
    assert _final(history, "straight").status == "finished"
    jobs.start("train", _cfg(*extra), ready_workspace, history, name="killed")
    run = _wait(history, "killed", lambda r: r.status == "running" and (r.step or 0) >= 25)
    os.killpg(run.pid, signal.SIGKILL)
    assert _wait(history, "killed", lambda r: r.status != "running", timeout=10).status == "lost"
    jobs.resume("killed", ready_workspace, history)
    run = _final(history, "killed")
    assert run.status == "finished"
    a = load_file(str(ready_workspace.models_dir / "straight" / "model.safetensors"))
    b = load_file(str(ready_workspace.models_dir / "killed" / "model.safetensors"))
    import torch

    assert all(torch.equal(a[k], b[k]) for k in a)
    assert history.metric_series("killed", "loss") == history.metric_series("straight", "loss")
    assert history.metric_series("killed", "pairs_acc") == history.metric_series("straight", "pairs_acc")
    assert [s for s, _ in history.metric_series("killed", "pairs_acc")] == [0, 10, 20, 30, 40]


@pytest.mark.slow
def test_two_processes_with_gloo_log_once_and_stay_in_sync(ready_workspace, history, shared_data):
    # Minimal pairs too: rank 0 scores them while rank 1 waits at the next all-reduce.
    pairs = ["eval.pairs_every=5", f"eval.pairs_dir={shared_data / 'blimp-sample'}", "eval.pairs_limit=4"]
    jobs.start(
        "train",
        _cfg("training.max_steps=10", "training.batch_size=4", *pairs),
        ready_workspace,
        history,
        name="ddp",
        num_processes=2,
    )
    run = _final(history, "ddp", timeout=240)
    log = Path(run.run_dir, "run.log").read_text()
    assert run.status == "finished", log[-3000:]
    assert "2 process(es)" in log and "parameters identical on all 2 processes" in log
    assert (
        sum(line.startswith("step 10/10 ") for line in log.splitlines()) == 1 and "following values were not passed" not in log
    )  # rank 0 reports
    assert [s for s, _ in history.metric_series("ddp", "loss")] == [5, 10]
    assert [s for s, _ in history.metric_series("ddp", "pairs_acc")] == [0, 5, 10]
    assert [p.name for p in ckpt.list_checkpoints(run.run_dir)] == ["checkpoint-10"]
    assert not list(Path(run.run_dir).glob(".checkpoint-*"))
    # tokens counted for both processes: 10 steps x 4 x 2 processes x 64 tokens
    assert json.loads(json.dumps(history.metrics_since("ddp", 9)))[0]["tokens"] == 10 * 4 * 2 * 64


@pytest.mark.slow
def test_two_processes_train_a_compiled_body_in_sync(ready_workspace, history, cxx):
    jobs.start(
        "train",
        _cfg("training.max_steps=4", "training.batch_size=4", "training.logging_steps=2", "training.torch_compile=true"),
        ready_workspace,
        history,
        name="ddp-compiled",
        num_processes=2,
    )
    run = _final(history, "ddp-compiled", timeout=300)
    log = Path(run.run_dir, "run.log").read_text()
    assert run.status == "finished", log[-3000:]
    assert "parameters identical on all 2 processes" in log and "running eagerly" not in log
    assert log.count("torch_compile: the first step compiles the model") == 1  # rank 0 says it
    assert [s for s, _ in history.metric_series("ddp-compiled", "loss")] == [2, 4]


def test_prepare_and_tokenize_tasks_run_as_jobs(workspace):
    with History(workspace.db_path) as history:
        jobs.start_task(
            "prepare",
            {"source": "synthetic", "output": "syn2", "words": 20000, "complexity": "medium", "seed": 3},
            workspace,
            history,
            name="make-syn2",
        )
        assert _final(history, "make-syn2").status == "finished"
        assert "syn2" in workspace.corpora()
        jobs.start_task(
            "tokenize",
            {"data": "syn2", "vocab_size": 400, "min_frequency": 2, "output": "tok2"},
            workspace,
            history,
            name="tok-tok2",
        )
        run = _final(history, "tok-tok2")
        assert run.status == "finished" and run.step == run.total_steps == 1
        assert "tok2" in workspace.tokenizers()
        assert history.artifacts("tok-tok2")[0]["kind"] == "tokenizer"
        jobs.start_task(
            "tokenize",
            {"data": "missing", "vocab_size": 400, "min_frequency": 2, "output": "t3"},
            workspace,
            history,
            name="tok-bad",
        )
        bad = _final(history, "tok-bad")
        assert bad.status == "failed" and "missing" in bad.error and "Traceback" not in bad.error


def test_second_stop_kills_the_process_group(ready_workspace, history):
    jobs.start("train", _cfg("training.max_steps=100000", "training.save_steps=0"), ready_workspace, history, name="stubborn")
    run = _wait(history, "stubborn", lambda r: r.status == "running")
    assert jobs.stop("stubborn", history) == "requested"
    assert jobs.stop("stubborn", history) == "killed"
    run = history.get_run("stubborn")
    assert run.status == "stopped" and "killed" in run.error
    deadline = time.monotonic() + 10
    while jobs.pid_alive(run.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not jobs.pid_alive(run.pid)
