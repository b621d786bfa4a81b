"""Runs sent to a real one-node SLURM through the slurm backend (submitit): finish, stop with a
checkpoint, resume as a new job, checkpoint + requeue at the time limit, the live curve through the
event log and an ingester killed mid-commit (tests/cluster/conftest.py)."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import config, jobs
from core.backends import SLURM, BackendChoice
from core.backends.config import Cluster
from core.cli import main
from core.config.presets import find
from core.events.log import EVENTS_FILE, Event, read_events
from core.history import FINAL, History
from core.train import checkpoint as ckpt

pytestmark = pytest.mark.cluster
BASE = ["data.train_path=syn", "data.tokenizer_path=tok", "training.logging_steps=5", "training.eval_steps=0"]
WATCH_S = 8  # seconds the live-curve test watches rows arrive before it stops its endless run
CLUSTER = Cluster(name="test", partition="debug", cpus_per_task=1, mem_gb=1, time="00:10:00", signal_delay_s=60)


def _cfg(*extra):
    return config.load(find("tiny"), [*BASE, *extra])


def _wait(history, name, done, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = jobs.refresh(history, name)
        if done(run):
            return run
        time.sleep(0.5)
    log = Path(run.run_dir, "run.log").read_text(errors="replace") if run.run_dir else ""
    raise AssertionError(
        f"run {name} stuck at {run.status} ({run.scheduler_state}, step {run.step}):\n{log[-3000:]}\n{_submitit_logs(run)}"
    )


def _submitit_logs(run) -> str:
    folder = Path(run.run_dir) / "slurm" if run.run_dir else None
    if folder is None or not folder.is_dir():
        return ""
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in sorted(folder.glob("*.out")))


@pytest.fixture
def history(slurm_cluster, ready_workspace):
    """The workspace's history; jobs a failed test leaves behind are cancelled (2 cores: they would
    slow every later test)."""
    with History(ready_workspace.db_path) as h:
        yield h
        for run in h.list_runs():
            if run.scheduler_job:
                subprocess.run(["scancel", run.scheduler_job], capture_output=True)


def _start(ws, history, name, *extra, cluster=CLUSTER):
    return jobs.start("train", _cfg(*extra), ws, history, name=name, backend=BackendChoice(SLURM, cluster))


def test_a_tiny_run_completes_on_slurm_with_its_files(ready_workspace, history):
    run = _start(ready_workspace, history, "s1", "training.max_steps=10", "training.save_steps=5")
    assert run.backend == "slurm:test" and run.scheduler_job and run.status == "queued"
    job = json.loads((Path(run.run_dir) / "job.json").read_text())
    assert job["history"] == "events" and job["topology"] == {
        "nodes": 1,
        "gpus_per_node": 0,
        "procs_per_node": 1,
        "num_processes": 1,
        "launcher": "srun",
    }
    run = _wait(history, "s1", lambda r: r.status in FINAL and r.scheduler_state == "COMPLETED")
    assert run.status == "finished", (run.error, _submitit_logs(run))
    assert run.step == 10
    run_dir = Path(run.run_dir)
    assert (run_dir / "model.safetensors").is_file() and (run_dir / "checkpoint-10").is_dir()
    assert "step 10/10" in (run_dir / "run.log").read_text()
    assert list((run_dir / "slurm").glob(f"{run.scheduler_job}_*"))  # submitit's files of that job


def test_two_gloo_processes_in_the_allocation_train_as_the_same_local_run(ready_workspace, history, capsys):
    # srun starts one task; it runs `accelerate launch` of 2 CPU processes (gloo) through a free port.
    steps = ["training.max_steps=10", "training.batch_size=4", "training.save_steps=10"]
    two = Cluster(name="test", partition="debug", cpus_per_task=2, mem_gb=2, time="00:10:00", procs_per_node=2)
    run = _start(ready_workspace, history, "m1", *steps, cluster=two)
    assert json.loads((Path(run.run_dir) / "job.json").read_text())["topology"]["num_processes"] == 2
    run = _wait(history, "m1", lambda r: r.status in FINAL and r.scheduler_state == "COMPLETED")
    log = Path(run.run_dir, "run.log").read_text()
    assert run.status == "finished", (run.error, log[-3000:], _submitit_logs(run))
    assert "2 process(es)" in log and "parameters identical on all 2 processes" in log
    assert sum(line.startswith("step 10/10 ") for line in log.splitlines()) == 1  # rank 0 reports, once
    assert [s for s, _ in history.metric_series("m1", "loss")] == [5, 10]
    assert [p.name for p in ckpt.list_checkpoints(run.run_dir)] == ["checkpoint-10"]
    assert history.metrics_since("m1", 9)[0]["tokens"] == 10 * 4 * 2 * 64  # both processes' tokens
    assert list((Path(run.run_dir) / "slurm").glob("port-*")) == []  # one node: no port file to share
    assert run.config["topology"] == {  # the saved config records what ran, `runs show` prints it
        "backend": "slurm:test",
        "nodes": 1,
        "procs_per_node": 2,
        "gpus_per_node": 0,
        "world_size": 2,
        "mixed_precision": "no",
        "scheduler_job": run.scheduler_job,
    }
    assert main(["runs", "show", "m1"]) == 0
    assert (
        f"slurm:test, 1 node(s) x 2 process(es) (0 GPUs per node), world size 2, mixed precision no, job {run.scheduler_job}"
        in (capsys.readouterr().out)
    )
    jobs.start("train", _cfg(*steps), ready_workspace, history, name="m1-local", num_processes=2)
    local = _wait(history, "m1-local", lambda r: r.status in FINAL)
    assert local.status == "finished"
    assert history.metric_series("m1", "loss") == history.metric_series("m1-local", "loss")
    assert (Path(run.run_dir) / "model.safetensors").read_bytes() == (Path(local.run_dir) / "model.safetensors").read_bytes()


def test_eval_and_export_jobs_on_slurm_record_their_results_on_the_models_run(ready_workspace, history, capsys):
    jobs.start("train", _cfg("training.max_steps=10", "training.save_steps=0"), ready_workspace, history, name="ev-src")
    assert _wait(history, "ev-src", lambda r: r.status in FINAL).status == "finished"
    (ready_workspace.root / "backends.yaml").write_text(
        "clusters:\n  test:\n    partition: debug\n    cpus_per_task: 1\n    mem_gb: 1\n    time: '00:10:00'\n"
    )
    assert main(["eval", "ev-src", "--suite", "ppl", "--backend", "slurm:test"]) == 0
    name = capsys.readouterr().out.strip().splitlines()[-1]
    job = history.get_run(name)
    assert job.kind == "eval" and job.backend == "slurm:test" and job.scheduler_job
    assert (Path(job.run_dir) / "history-snapshot.db").is_file()  # its reads of ev-src, from the head
    job = _wait(history, name, lambda r: r.status in FINAL and r.scheduler_state == "COMPLETED")
    assert job.status == "finished", (job.error, Path(job.run_dir, "run.log").read_text()[-3000:], _submitit_logs(job))
    evals = {(e["suite"], e["name"]): e for e in history.evals("ev-src")}
    assert evals[("ppl", "perplexity")]["value"] > 1 and evals[("ppl", "perplexity")]["step"] == 10
    (folder,) = [Path(a["path"]) for a in history.artifacts("ev-src", "eval")]
    assert [Path(a["path"]) for a in history.artifacts(name, "eval")] == [folder]
    results = json.loads((folder / "results.json").read_text())
    assert results["suites"]["ppl"]["perplexity"] == pytest.approx(evals[("ppl", "perplexity")]["value"])
    assert main(["export", "ev-src", "--format", "hf", "--backend", "slurm:test"]) == 0  # its model card reads the curve
    name = capsys.readouterr().out.strip().splitlines()[-1]
    job = _wait(history, name, lambda r: r.status in FINAL and r.scheduler_state == "COMPLETED")
    assert job.status == "finished", (job.error, Path(job.run_dir, "run.log").read_text()[-3000:], _submitit_logs(job))
    (target,) = [Path(a["path"]) for a in history.artifacts("ev-src", "export")]
    assert (target / "model.safetensors").is_file() and [Path(a["path"]) for a in history.artifacts(name, "export")] == [target]
    assert "No training metrics were logged" not in (target / "README.md").read_text()


def test_stop_then_resume_as_a_new_job_is_bit_exact_with_a_local_run(ready_workspace, history):
    steps = ["training.max_steps=60", "training.save_steps=0"]
    first = _start(ready_workspace, history, "s2", *steps)
    _wait(history, "s2", lambda r: r.status == "running" and (r.step or 0) >= 5)
    assert jobs.stop("s2", history) == "requested"  # scancel --signal=TERM: the worker checkpoints
    run = _wait(history, "s2", lambda r: r.status in FINAL)
    assert run.status == "stopped" and 5 <= run.step < 60, (run.error, _submitit_logs(run))
    assert ckpt.list_checkpoints(run.run_dir)[-1].name == f"checkpoint-{run.step}"
    resumed = jobs.resume("s2", ready_workspace, history)
    assert resumed.scheduler_job != first.scheduler_job and resumed.backend == "slurm:test"
    run = _wait(history, "s2", lambda r: r.status in FINAL and r.scheduler_state == "COMPLETED")
    assert run.status == "finished" and run.step == 60, (run.error, _submitit_logs(run))
    rows = [(m["step"], m["name"]) for m in history.metrics_since("s2", -1)]
    assert len(rows) == len(set(rows))
    jobs.start("train", _cfg(*steps), ready_workspace, history, name="l2")  # uninterrupted, this machine
    local = _wait(history, "l2", lambda r: r.status in FINAL)
    assert local.status == "finished"
    assert (Path(run.run_dir) / "model.safetensors").read_bytes() == (Path(local.run_dir) / "model.safetensors").read_bytes()


def test_a_job_past_its_time_limit_checkpoints_and_is_requeued(ready_workspace, history):
    # SLURM sends the warning (USR2) within 30 s of `time - signal_delay_s`: 30-60 s into the job.
    short = Cluster(name="short", partition="debug", cpus_per_task=1, mem_gb=1, time="00:02:00", signal_delay_s=60)
    run = _start(ready_workspace, history, "s3", "training.max_steps=100000", "training.save_steps=0", cluster=short)
    run_dir = Path(run.run_dir)

    def requeued_and_training(r):
        job = json.loads((run_dir / "job.json").read_text())
        return job.get("requeues", 0) >= 1 and r.status == "running" and (r.step or 0) > _resumed_step(job)

    run = _wait(history, "s3", requeued_and_training, timeout=300)
    job = json.loads((run_dir / "job.json").read_text())
    assert Path(job["resume_from"]).name.startswith("checkpoint-") and Path(job["resume_from"]).is_dir()
    assert "requeued" in (run.hint or "") or run.status == "running"
    restarts = subprocess.run(["scontrol", "show", "job", "-o", run.scheduler_job], capture_output=True, text=True)
    assert "Restarts=1" in restarts.stdout or "Restarts=2" in restarts.stdout
    jobs.stop("s3", history, kill_after=0)


def _resumed_step(job: dict) -> int:
    return int(Path(job["resume_from"]).name.split("-")[1]) if job.get("resume_from") else 10**9


def test_a_four_trial_sweep_runs_at_most_two_at_once(ready_workspace, history):
    from core.config.resolve import data_checker
    from core.sweep import runs as sweep_runs
    from core.sweep import spec as sweep

    overrides = {
        "data.train_path": "syn",
        "data.tokenizer_path": "tok",
        "training.logging_steps": 5,
        "training.eval_steps": 0,
        "training.save_steps": 0,
        "training.max_steps": 15,
    }
    plan = sweep.plan(
        {
            "name": "sw",
            "base": "tiny",
            "overrides": overrides,
            "grid": {"training.lr": [1e-3, 2e-3, 3e-3, 4e-3]},
            "metric": "loss",
        },
        ready_workspace,
        checks=[data_checker(ready_workspace, require=True)],
    )
    cluster = Cluster(name="test", partition="debug", cpus_per_task=1, mem_gb=1, array_parallelism=2)
    started = sweep_runs.start(plan, ready_workspace, history, backend=BackendChoice(SLURM, cluster))
    names = [t["run"] for t in started["trials"]]
    ids = [history.get_run(n).scheduler_job for n in names]
    assert len({i.split("_")[0] for i in ids}) == 1 and sorted(i.split("_")[1] for i in ids) == ["0", "1", "2", "3"]
    most, pending, live_best = 0, set(), None
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        out = subprocess.run(["squeue", "-h", "-r", "-t", "RUNNING", "-o", "%i"], capture_output=True, text=True).stdout
        most = max(most, len(out.split()))
        result = sweep_runs.results(history, "sw")  # what the sweep view polls: each trial refreshed
        pending |= {r["run"] for r in result["rows"] if (r["scheduler_state"] or "").startswith("PENDING")}
        if live_best is None and result["best"] and any(r["status"] not in FINAL for r in result["rows"]):
            live_best = result["best"]  # a best so far while other trials still queue or run
        runs = [jobs.refresh(history, n) for n in names]
        if all(r.status in FINAL for r in runs):
            break
        time.sleep(0.5)
    assert [r.status for r in runs] == ["finished"] * 4, [(r.name, r.status, r.error) for r in runs]
    assert most == 2  # the array's %2: never more, and the single node's 2 CPUs let 2 run
    assert len(pending) >= 2 and live_best in names  # trials 2 and 3 wait on the %2 cap, seen PENDING
    spans = sorted((r.started, r.ended) for r in runs)
    assert all(sum(1 for s, e in spans if s < t < e) <= 2 for t, _ in spans)


def _file_metrics(run_dir: Path) -> tuple[list[tuple[Event, list]], list[Event]]:
    """The (event, row) pairs of the metrics events in the run's events.jsonl, and all its events."""
    events = read_events(Path(run_dir) / EVENTS_FILE, 0).events
    return [(e, row) for e in events if e.type == "metrics" for row in e.payload["rows"]], events


def test_the_loss_curve_reaches_studio_db_through_the_event_log_while_the_job_runs(ready_workspace, history):
    # An endless run, stopped once its curve has grown live for WATCH_S: as long on a busy machine as on an idle one.
    _start(ready_workspace, history, "e1", "training.max_steps=100000", "training.logging_steps=5", "training.save_steps=0")
    seen: dict[tuple[int, str], float] = {}  # (step, name) -> when a poll calling jobs.refresh first saw it
    live: set[tuple[int, str]] = set()  # those first seen while SLURM said RUNNING and the row `running`
    first_live, stopping, deadline = None, False, time.monotonic() + 150
    while time.monotonic() < deadline:
        run = jobs.refresh(history, "e1")
        now = time.time()
        running = run.status == "running" and (run.scheduler_state or "").startswith("RUNNING")
        for m in history.metrics_since("e1", -1):
            if (m["step"], m["name"]) not in seen:
                seen[(m["step"], m["name"])] = now
                live.update([(m["step"], m["name"])] if running else [])
        if run.status in FINAL:
            break
        first_live = first_live or (now if live else None)
        if not stopping and first_live and now - first_live >= WATCH_S and len(live) >= 4:
            stopping = jobs.stop("e1", history) == "requested"
        time.sleep(0.2)
    assert run.status == "stopped" and stopping, (run.status, run.error, _submitit_logs(run))
    rows, _ = _file_metrics(run.run_dir)
    assert sorted(seen) == sorted((row[0], row[1]) for _, row in rows)
    lags = [seen[(row[0], row[1])] - event.time for event, row in rows]
    logged = [seen[(row[0], row[1])] - row[3] for _, row in rows]  # from the trainer's log call (1 s batches)
    print(
        f"event log -> studio.db: {len(lags)} rows in {len({e.seq for e, _ in rows})} events, lag max "
        f"{max(lags):.2f} s, mean {sum(lags) / len(lags):.2f} s; from the log call: max {max(logged):.2f} s"
    )
    assert max(lags) <= 2.0, sorted(lags)[-5:]
    assert len({e.seq for e, row in rows if (row[0], row[1]) in live and row[1] == "loss"}) >= 3  # grew while it ran


# Ingests the run's events in a loop, like a studio poll; once a batch with metrics is committed,
# the next transaction that applies a metrics event SIGKILLs this process after the INSERT and
# before the COMMIT (rows written, the run's ingested_seq not yet moved).
_DYING_INGESTER = """
import os, signal, sys, time
from core.events import ingest
from core.history import History
applied, committed = 0, 0
real = ingest._APPLY["metrics"]
def dying(conn, run_id, event):
    global applied
    real(conn, run_id, event)
    applied += 1
    if committed:
        os.kill(os.getpid(), signal.SIGKILL)
ingest._APPLY["metrics"] = dying
with History(sys.argv[1]) as h:
    while True:
        ingest.ingest_run(h, sys.argv[2])
        committed = applied
        time.sleep(0.1)
"""


def test_an_ingester_killed_mid_commit_loses_and_doubles_nothing(ready_workspace, history):
    run = _start(ready_workspace, history, "k1", "training.max_steps=100000", "training.logging_steps=2", "training.save_steps=0")
    root = Path(__file__).resolve().parents[2]
    killer = subprocess.run(
        [sys.executable, "-c", _DYING_INGESTER, str(ready_workspace.db_path), "k1"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert killer.returncode == -signal.SIGKILL, killer.stderr[-2000:]
    rows, events = _file_metrics(run.run_dir)
    assert not [e for e in events if e.type == "status" and e.payload["status"] in FINAL]  # mid-run
    done = history.get_run("k1").ingested_seq  # read, not refreshed: what the dead ingester committed
    committed = {(r[0], r[1]) for e, r in rows if e.seq <= done}
    assert committed and {(m["step"], m["name"]) for m in history.metrics_since("k1", -1)} == committed
    assert len(committed) < len(rows)  # the killed transaction's rows were rolled back, seq unmoved
    step = max(r[0] for e, r in rows)  # this test ingests again, while the job runs on, then stops it
    _wait(history, "k1", lambda r: r.status == "running" and (r.step or 0) >= step + 20)
    assert jobs.stop("k1", history) == "requested"
    run = _wait(history, "k1", lambda r: r.status in FINAL and not (r.scheduler_state or "").startswith("RUN"))
    assert run.status == "stopped", (run.error, _submitit_logs(run))
    rows, events = _file_metrics(run.run_dir)
    db = history.metrics_since("k1", -1)
    counts = collections.Counter((m["step"], m["name"]) for m in db)
    assert set(counts.values()) == {1} and len(db) == len(rows)
    assert {(m["step"], m["name"]): m["value"] for m in db} == {(r[0], r[1]): r[2] for _, r in rows}
    assert history.get_run("k1").ingested_seq == events[-1].seq
