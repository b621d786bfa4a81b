"""`--backend slurm[:NAME]`, `--nodes`, `--gpus-per-node`, `--time`, `--max-parallel`: bad input exits 2
naming the flag and the fix, before any run exists; `runs list` shows where a run runs."""

from __future__ import annotations

import json
import os

import pytest

from core.cli import main
from core.history import History

DATA = ["data.train_path=syn", "data.tokenizer_path=tok"]


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--time", "01:00:00"], ["--time", "only apply to --backend slurm"]),
        (["--backend", "pbs"], ["--backend 'pbs'", "slurm:NAME"]),
        (["--backend", "slurm", "--num-processes", "2"], ["--num-processes", "--nodes"]),
        (["--backend", "slurm:big"], ["no cluster 'big'", "backends.yaml"]),
    ],
)
def test_bad_backend_flags_exit_2_naming_the_fix(ready_workspace, capsys, monkeypatch, tmp_path, extra, words):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert main(["train", "--config", "tiny", *DATA, "--model_name", "b1", "--detach", *extra]) == 2
    err = capsys.readouterr().err
    assert all(w in err for w in words), err
    with History(ready_workspace.db_path) as h:
        assert h.list_runs() == []


def test_no_sbatch_on_path_names_it(ready_workspace, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["train", "--config", "tiny", *DATA, "--detach", "--backend", "slurm"]) == 2
    assert "no `sbatch` on PATH" in capsys.readouterr().err


def test_max_parallel_needs_slurm(ready_workspace, capsys):
    assert (
        main(
            [
                "sweep",
                "--config",
                "tiny-lr",
                "--set",
                "data.train_path=syn",
                "--set",
                "data.tokenizer_path=tok",
                "--max-parallel",
                "2",
            ]
        )
        == 2
    )
    assert "--max-parallel caps a SLURM job array" in capsys.readouterr().err


def test_runs_list_shows_the_backend_and_the_scheduler_state(ready_workspace, capsys):
    with History(ready_workspace.db_path) as h:
        h.create_run("far", "train", {}, ready_workspace.models_dir / "far")
        h.set_status("far", "stopped", backend="slurm:gpu", scheduler_job="81", scheduler_state="CANCELLED")
    assert main(["runs", "list"]) == 0
    assert "slurm:gpu job 81 CANCELLED" in capsys.readouterr().out
    assert main(["runs", "list", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert (row["backend"], row["scheduler_job"], row["scheduler_state"]) == ("slurm:gpu", "81", "CANCELLED")


def test_procs_per_node_needs_slurm_and_agrees_with_the_gpus(ready_workspace, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert main(["train", "--config", "tiny", *DATA, "--detach", "--procs-per-node", "2"]) == 2
    assert "--procs-per-node only apply to --backend slurm" in capsys.readouterr().err
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    for tool in ("sbatch", "sinfo"):  # a login node that knows partition `debug`
        (tmp_path / tool).write_text("#!/bin/sh\necho debug\n")
        (tmp_path / tool).chmod(0o755)
    bad = ["--backend", "slurm", "--gpus-per-node", "4", "--procs-per-node", "2"]
    assert main(["train", "--config", "tiny", *DATA, "--detach", *bad]) == 2
    assert "procs_per_node 2 with gpus_per_node 4" in capsys.readouterr().err
    assert main(["eval", "r1", "--backend", "slurm", "--procs-per-node", "2"]) == 2
    assert "eval runs as one process" in capsys.readouterr().err
    assert main(["export", "r1", "--format", "hf", "--backend", "slurm", "--nodes", "2"]) == 2
    assert "export runs as one process" in capsys.readouterr().err
    with History(ready_workspace.db_path) as h:
        assert h.list_runs() == []
