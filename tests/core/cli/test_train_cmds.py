"""`babyllama train` and `babyllama runs ...` through the CLI, with real worker processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.cli import main
from core.history import History

ROOT = Path(__file__).resolve().parents[3]
DATA = ["data.train_path=syn", "data.tokenizer_path=tok"]


def _wait_status(ws, name, statuses, timeout=90, min_step=0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with History(ws.db_path) as h:
            run = h.get_run(name)
        if run and run.status in statuses and (run.step or 0) >= min_step:
            return run
        time.sleep(0.2)
    raise AssertionError(f"{name} never reached {statuses}: {run}")


def test_detach_then_runs_list_show_logs(ready_workspace, capsys):
    code = main(
        ["train", "--config", "tiny", *DATA, "--model_name", "cli-a", "--detach", "training.max_steps=10", "--lr", "2e-3"]
    )
    assert code == 0 and capsys.readouterr().out.strip().endswith("cli-a")
    _wait_status(ready_workspace, "cli-a", {"finished"})
    assert main(["runs", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["name"] == "cli-a" and rows[0]["status"] == "finished" and rows[0]["loss"] > 0
    assert main(["runs", "show", "cli-a", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {"name", "status", "pid", "step", "config", "metrics"} <= set(shown)
    assert shown["config"]["training"]["lr"] == 2e-3 and "loss" in shown["metrics"] and shown["step"] == 10
    assert "--lr 2e-3" in shown["command"]
    assert shown["config"]["topology"] == {
        "backend": "local",
        "nodes": 1,
        "procs_per_node": 1,
        "gpus_per_node": 0,
        "world_size": 1,
        "mixed_precision": "no",
        "scheduler_job": None,
    }
    assert main(["runs", "show", "cli-a"]) == 0
    topology = "local, 1 node(s) x 1 process(es) (0 GPUs per node), world size 1, mixed precision no"
    assert f"topology: {topology}\n" in capsys.readouterr().out
    assert main(["runs", "logs", "cli-a"]) == 0
    assert "step 10/10" in capsys.readouterr().out


def test_taken_name_and_missing_tokenizer_exit_2(ready_workspace, capsys):
    assert main(["train", "--config", "tiny", *DATA, "--model_name", "cli-b", "--detach", "training.max_steps=5"]) == 0
    capsys.readouterr()
    assert main(["train", "--config", "tiny", *DATA, "--model_name", "cli-b", "--detach"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["train", "--config", "tiny", "data.train_path=syn", "data.tokenizer_path=nope", "--detach"]) == 2
    err = capsys.readouterr().err
    assert "data.tokenizer_path" in err and "babyllama tokenizer train" in err
    _wait_status(ready_workspace, "cli-b", {"finished"})


def test_delete_asks_unless_yes(ready_workspace, capsys, monkeypatch):
    main(["train", "--config", "tiny", *DATA, "--model_name", "cli-c", "--detach", "training.max_steps=5"])
    run = _wait_status(ready_workspace, "cli-c", {"finished"})
    monkeypatch.setattr("sys.stdin", open(os.devnull))
    assert main(["runs", "delete", "cli-c"]) == 2 and Path(run.run_dir).is_dir()
    assert main(["runs", "delete", "cli-c", "--yes"]) == 0
    assert not Path(run.run_dir).exists()
    with History(ready_workspace.db_path) as h:
        assert h.get_run("cli-c") is None


def test_foreground_ctrl_c_stops_with_checkpoint_then_resume(ready_workspace):
    env = {**os.environ, "BABYLLAMA_WORKSPACE": str(ready_workspace.root), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "core.cli",
            "train",
            "--config",
            "tiny",
            *DATA,
            "--model_name",
            "fg",
            "training.max_steps=100000",
            "training.save_steps=0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=ROOT,
    )
    _wait_status(ready_workspace, "fg", {"running"}, min_step=10)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "stop requested" in out and "run fg: stopped" in out and "ETA" in out
    run = _wait_status(ready_workspace, "fg", {"stopped"})
    assert (Path(run.run_dir) / f"checkpoint-{run.step}").is_dir()
    # The guide's --resume_from_checkpoint on that folder continues the same run.
    code = main(
        [
            "train",
            "--config",
            "tiny",
            *DATA,
            "--detach",
            "--resume_from_checkpoint",
            str(Path(run.run_dir) / f"checkpoint-{run.step}"),
        ]
    )
    assert code == 0
    _wait_status(ready_workspace, "fg", {"running"})
    assert main(["runs", "stop", "fg"]) == 0
    resumed = _wait_status(ready_workspace, "fg", {"stopped"})
    assert resumed.id == run.id and resumed.step >= run.step


def test_runs_list_and_show_ingest_an_events_run(workspace, capsys):
    """`runs list` / `runs show` apply a compute node's new events before printing them."""
    from core.events.sink import EventHistory
    from core.history.schema import metric_rows

    run_dir = workspace.root / "models" / "node-run"
    run_dir.mkdir(parents=True)
    job = {"kind": "train", "name": "node-run", "workspace": str(workspace.root), "history": "events"}
    (run_dir / "job.json").write_text(json.dumps(job))
    with History(workspace.db_path) as h:
        h.create_run("node-run", "train", {}, run_dir)
    events = EventHistory(run_dir, job)
    events.set_status("node-run", "running", pid=1, host="node-7", heartbeat=time.time())
    events.write_metric_rows(0, metric_rows(0, 7, {"loss": 2.5}, 70, 56))
    assert main(["runs", "list", "--json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "node-run")
    assert (row["status"], row["step"], row["loss"]) == ("running", 7, 2.5)
    events.write_metric_rows(0, metric_rows(0, 8, {"loss": 2.25}, 80, 64))
    events.set_status("node-run", "finished", step=8)
    assert main(["runs", "show", "node-run", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "finished" and shown["metrics"]["loss"] == 2.25
