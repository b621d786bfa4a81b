"""The studio's "Run on" (Train tab and Sweep accordion), at handler level: the clusters of
backends.yaml listed, the command shown parsing to the CLI's own BackendChoice, a bad choice
starting nothing, and a pending SLURM job's state and reason in the status. Fake scheduler
commands on PATH; no real SLURM."""

from __future__ import annotations

import os
import shlex

import gradio as gr
import pytest

from core.cli import build_parser
from core.cli.backend_args import choose_backend
from core.history import History, Kind, Run, Status
from studio import run_on
from studio.context import StudioContext
from studio.panels import sweep as sweep_panel
from studio.tabs import train as tab
from studio.tabs import train_dashboard as dashboard

BACKENDS = """default: gpu
clusters:
  gpu:
    partition: gpu
    gpus_per_node: 4
    time: "24:00:00"
  cpu:
    partition: short
"""


@pytest.fixture
def cluster_ws(ready_workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (ready_workspace.root / "backends.yaml").write_text(BACKENDS, encoding="utf-8")
    return ready_workspace


def _fake_bin(tmp_path, monkeypatch, **scripts) -> None:
    """Put shell scripts named after scheduler commands first on PATH (only them when `alone`)."""
    folder = tmp_path / "fakebin"
    folder.mkdir(exist_ok=True)
    for name, body in scripts.items():
        path = folder / name
        path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
        path.chmod(0o755)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")


def _parse(argv: list[str]):
    """What `babyllama ...` parses (core.cli.main: unknown words are config overrides)."""
    args, extra = build_parser().parse_known_args(argv)
    assert not any(a.startswith(("--backend", "--nodes", "--gpus", "--time", "--max")) for a in extra), extra
    return args


def _tab(ctx) -> tab.TrainComponents:
    """The Train tab's components: its handlers answer dicts keyed by them."""
    with gr.Blocks():
        return tab.build(ctx)


def _form(ctx, *where, name="far"):
    return ["tiny", "syn", "tok", name, *tab.preset_values(ctx, "tiny"), *where]


def test_the_dropdown_lists_this_machine_the_default_and_each_cluster(cluster_ws):
    ctx = StudioContext(cluster_ws)
    assert run_on.choices(ctx) == [
        ("this machine", "local"),
        ("slurm", "slurm"),
        ("slurm:gpu", "slurm:gpu"),
        ("slurm:cpu", "slurm:cpu"),
    ]
    nodes, gpus, time = run_on.defaults(ctx, "slurm:gpu")
    assert (nodes["value"], gpus["value"], time["value"]) == (1, 4, "24:00:00") and nodes["visible"]
    assert not run_on.defaults(ctx, "local")[0]["visible"]
    assert run_on.defaults(ctx, "slurm:cpu", sweep=True)[3]["value"] == 4  # the cluster's array cap


def test_without_backends_yaml_only_this_machine(ready_workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert run_on.choices(StudioContext(ready_workspace)) == [("this machine", "local")]


def test_the_command_shown_parses_to_the_same_backend_choice(cluster_ws, tmp_path, monkeypatch):
    _fake_bin(tmp_path, monkeypatch, sbatch="exit 0", sinfo="echo gpu; echo short")
    ctx = StudioContext(cluster_ws)
    where = ("slurm:gpu", 2, 4, "02:00:00")  # nodes changed, GPUs as the cluster's, time changed
    command = tab.show_command(ctx, *_form(ctx, *where))
    argv = shlex.split(command)
    assert "--backend=slurm:gpu" in argv and "--nodes=2" in argv and "--time=02:00:00" in argv
    assert not any(a.startswith("--gpus-per-node") for a in argv)  # the cluster's own value: no flag
    from_cli = choose_backend(_parse(argv[1:]), cluster_ws)
    from_ui = run_on.choose(ctx, run_on.where_of(*where))
    assert from_cli == from_ui and from_ui.cluster.nodes == 2 and from_ui.cluster.gpus_per_node == 4
    # This machine: no flag at all, and no BackendChoice (the CLI's default).
    plain = shlex.split(tab.show_command(ctx, *_form(ctx, "local", None, None, "")))
    assert not any(a.startswith("--backend") for a in plain)
    assert choose_backend(_parse(plain[1:]), cluster_ws) is None


def test_the_sweep_command_carries_max_parallel(cluster_ws, tmp_path, monkeypatch):
    _fake_bin(tmp_path, monkeypatch, sbatch="exit 0", sinfo="echo gpu")
    ctx = StudioContext(cluster_ws)
    where = run_on.where_of("slurm:gpu", 1, 4, "24:00:00", 2)
    argv = ["sweep", "--config", "tiny-lr", *run_on.flags(ctx, where)]
    assert argv[3:] == ["--backend=slurm:gpu", "--max-parallel=2"]
    assert choose_backend(_parse(argv), cluster_ws) == run_on.choose(ctx, where)


def test_no_sbatch_shows_the_named_error_and_starts_nothing(cluster_ws, tmp_path, monkeypatch):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    ctx = StudioContext(cluster_ws)
    c = _tab(ctx)
    out = tab.start_run(ctx, *_form(ctx, "slurm:gpu", 1, 4, "24:00:00"), c=c)
    message = out[c.dash.status]
    assert "no `sbatch` on PATH" in message and "--backend local" in message and c.dash.run not in out
    queued = sweep_panel.start_sweep(
        ctx,
        "sw",
        "training.lr: [1e-3, 2e-3]",
        1,
        0,
        "eval_loss",
        "min",
        "tiny",
        "syn",
        "tok",
        *tab.preset_values(ctx, "tiny"),
        "slurm:gpu",
        1,
        4,
        "24:00:00",
        2,
    )
    assert "no `sbatch` on PATH" in queued
    with History(cluster_ws.db_path) as h:
        assert h.list_runs() == []
    assert not (cluster_ws.root / "sweeps" / "sw").exists()


def test_an_unknown_partition_names_sinfo_and_the_fix(cluster_ws, tmp_path, monkeypatch):
    _fake_bin(tmp_path, monkeypatch, sbatch="exit 0", sinfo="echo gpu")
    ctx = StudioContext(cluster_ws)
    c = _tab(ctx)
    message = tab.start_run(ctx, *_form(ctx, "slurm:cpu", 1, 0, "01:00:00"), c=c)[c.dash.status]
    assert "partition 'short'" in message and "fix `partition:` in backends.yaml" in message
    with History(cluster_ws.db_path) as h:
        assert h.list_runs() == []


def test_a_pending_job_shows_where_and_why_in_the_status(cluster_ws, tmp_path, monkeypatch):
    _fake_bin(tmp_path, monkeypatch, scontrol='echo "JobId=81 JobName=far JobState=PENDING Reason=Resources Restarts=0"')
    with History(cluster_ws.db_path) as h:
        h.create_run("far", "train", {}, cluster_ws.models_dir / "far")
        h.set_status("far", "queued", backend="slurm:gpu", scheduler_job="81", scheduler_state="PENDING (Priority)")
    ctx = StudioContext(cluster_ws)
    d = _tab(ctx).dash
    status = dashboard.tick(ctx, "far", None, "step", d)[d.status]
    assert "slurm:gpu job 81 PENDING (Resources)" in status  # the state jobs.refresh read, not the stale one
    assert run_on.where_html(Run("here", Kind.TRAIN, Status.RUNNING, backend="local")) == ""


def test_sweep_trials_table_has_a_where_column():
    result = {
        "metric": "eval_loss",
        "params": ["training.lr"],
        "rows": [
            {
                "run": "t0",
                "status": "queued",
                "best": False,
                "value": None,
                "params": {"training.lr": 0.001},
                "backend": "slurm:gpu",
                "scheduler_job": "90_0",
                "scheduler_state": "PENDING (JobArrayTaskLimit)",
            },
            {
                "run": "t1",
                "status": "finished",
                "best": True,
                "value": 2.5,
                "params": {"training.lr": 0.002},
                "backend": "local",
                "scheduler_job": None,
                "scheduler_state": None,
            },
        ],
    }
    table = sweep_panel.results_table(result)
    assert list(table["where"]) == ["slurm:gpu job 90_0 PENDING (JobArrayTaskLimit)", "local"]
