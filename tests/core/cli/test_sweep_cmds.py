"""`babyllama sweep` through the CLI: dry run, validation (exit 2), start + stop, list, show."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from core import jobs
from core.cli import main
from core.history import FINAL, History
from core.history.schema import write_transaction

SET = ["--set", "data.train_path=syn", "--set", "data.tokenizer_path=tok"]


def _write(tmp_path, **spec) -> str:
    path = tmp_path / "sw.yaml"
    path.write_text(yaml.safe_dump({"name": "clisw", "base": "tiny", **spec}))
    return str(path)


def test_dry_run_lists_the_trials_and_starts_nothing(ready_workspace, capsys):
    assert main(["sweep", "--config", "tiny-lr", "--trials", "2", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "sweep tiny-lr: 12 trial(s), judged by eval_loss (min)" in out
    assert "tiny-lr-lr3e-4-bs16-wd" in out and "dry run: nothing started" in out
    with History(ready_workspace.db_path) as h:
        assert h.list_runs() == []


def test_bad_sweep_exits_2_listing_every_problem(ready_workspace, tmp_path, capsys):
    config = _write(
        tmp_path, grid={"training.lrr": [1], "training.batch_size": [0]}, random={"training.lr": {"log_uniform": [0, 1]}}
    )
    assert main(["sweep", "--config", config, "--set", "data.train_path=nope", "--set", "data.tokenizer_path=tok"]) == 2
    err = capsys.readouterr().err
    for where in ("grid.training.lrr", "random.training.lr", "data.train_path", "training.batch_size"):
        assert where in err, err
    assert main(["sweep", "list"]) == 0 and "clisw" not in capsys.readouterr().out
    assert main(["sweep"]) == 2 and "--config" in capsys.readouterr().err


def test_start_then_stop_ends_every_trial_stopped(ready_workspace, tmp_path, capsys):
    config = _write(tmp_path, grid={"training.seed": [1, 2]}, overrides={"training.max_steps": 100000})
    assert main(["sweep", "--config", config, *SET, "--name", "cli-stop"]) == 0
    assert "queued 2 run(s)" in capsys.readouterr().out
    assert main(["sweep", "stop", "cli-stop"]) == 0
    assert "stop requested for 2 trial(s)" in capsys.readouterr().out
    deadline = time.monotonic() + 120
    with History(ready_workspace.db_path) as h:
        while time.monotonic() < deadline:
            statuses = {n: jobs.refresh(h, n).status for n in ("cli-stop-seed1", "cli-stop-seed2")}
            if set(statuses.values()) <= set(FINAL):
                break
            time.sleep(0.3)
        assert set(statuses.values()) == {"stopped"}, statuses
        command = h.get_run("cli-stop-seed1").command
        assert command.startswith("babyllama train --config") and "training.seed=1" in command
    assert main(["sweep", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["name"] == "cli-stop" and listed[0]["statuses"] == {"stopped": 2}
    assert main(["sweep", "--config", config, *SET, "--name", "cli-stop"]) == 2
    assert "already exists" in capsys.readouterr().err
    # A past sweep by name (its saved sweep.yaml) runs again under a new name.
    assert main(["sweep", "--config", "cli-stop", "--name", "cli-again", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "sweep cli-again: 2 trial(s)" in out and "cli-again-seed2" in out


def test_show_marks_the_best_and_writes_the_plot(ready_workspace, capsys):
    with History(ready_workspace.db_path) as h:
        with write_transaction(h.conn) as conn:
            conn.execute(
                "INSERT INTO sweeps (name, metric, mode, spec, sweep_dir, created) "
                "VALUES ('shown', 'eval_loss', 'min', '{}', ?, 0)",
                (str(ready_workspace.root / "sweeps" / "shown"),),
            )
        for i, (run, value) in enumerate((("p", 3.5), ("q", 2.25))):
            h.create_run(run, "train", {}, None)
            h.set_status(run, "finished")
            h.log_metrics(run, 5, {"eval_loss": value})
            with write_transaction(h.conn) as conn:
                conn.execute(
                    "INSERT INTO sweep_trials VALUES (1, ?, ?, ?)",
                    (h.get_run(run).id, i, json.dumps({"training.lr": 10.0 ** -(i + 3)})),
                )
    assert main(["sweep", "show", "shown"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "best: q" in lines[0]
    assert [line for line in lines if line.startswith("*")][0].split()[1] == "q"
    assert any(line.split()[:1] == ["p"] and "3.5000" in line for line in lines)
    assert main(["sweep", "show", "shown", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["best"] == "q" and Path(shown["plot"]).is_file()
    assert Path(shown["plot"]).parent == ready_workspace.root / "sweeps" / "shown"
    assert main(["sweep", "show", "missing"]) == 2 and "no sweep named" in capsys.readouterr().err
