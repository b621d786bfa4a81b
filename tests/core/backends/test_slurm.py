"""The slurm backend without a cluster: the command each node runs, the recorded topology, the
submitit parameters, and the errors that name the fix."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.backends import SLURM, BackendChoice, parse_flag, slurm
from core.backends.config import Cluster
from core.errors import UserError


def test_one_process_runs_the_worker_and_more_run_accelerate_over_every_node():
    single = slurm.topology(Cluster())
    assert single == {"nodes": 1, "gpus_per_node": 0, "num_processes": 1, "launcher": "srun"}
    assert slurm.node_argv(Path("/r"), single, 0, "n1") == [sys.executable, "-m", "core.jobs.worker", "/r"]
    multi = slurm.topology(Cluster(nodes=2, gpus_per_node=4))
    assert multi["num_processes"] == 8 and multi["launcher"] == "srun + accelerate launch"
    argv = slurm.node_argv(Path("/r"), multi, 1, "n1")
    flags = dict(zip(argv[4::2], argv[5::2]))  # after the bare --multi_gpu
    assert argv[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert flags["--num_machines"] == "2" and flags["--machine_rank"] == "1" and flags["--num_processes"] == "8"
    assert flags["--main_process_ip"] == "n1" and argv[-3:] == ["-m", "core.jobs.worker", "/r"]


def test_the_executor_carries_the_clusters_settings(tmp_path):
    pytest.importorskip("submitit")
    cluster = Cluster(
        name="gpu",
        partition="gpu",
        account="lab",
        qos="high",
        nodes=2,
        gpus_per_node=4,
        cpus_per_task=8,
        mem_gb=32,
        time="02:00:00",
        signal_delay_s=300,
        array_parallelism=3,
        extra_sbatch=["--constraint=a100"],
        setup=["module load cuda"],
    )
    ex = slurm.executor(tmp_path, cluster, job_name="r1")
    script = ex._executor._make_submission_file_text("python -m x", "UID")
    for line in (
        "--partition=gpu",
        "--account=lab",
        "--qos=high",
        "--nodes=2",
        "--gpus-per-node=4",
        "--cpus-per-task=8",
        "--mem=32GB",
        "--time=120",
        "--signal=USR2@300",
        "--constraint=a100",
        "--ntasks-per-node=1",
        "--job-name=r1",
    ):
        assert f"#SBATCH {line}" in script, line
    assert "module load cuda" in script and f"export PYTHONPATH={slurm.local.CHECKOUT}" in script


def test_the_backend_flag_is_local_slurm_or_slurm_with_a_cluster():
    assert parse_flag("local") == ("local", None) and parse_flag("slurm") == ("slurm", None)
    assert parse_flag("slurm:gpu") == ("slurm", "gpu")
    for bad in ("pbs", "slurm:", "local:x"):
        with pytest.raises(UserError, match="--backend"):
            parse_flag(bad)
    assert BackendChoice(SLURM, Cluster(name="gpu")).label == "slurm:gpu"
    assert BackendChoice(SLURM, Cluster()).label == "slurm"


def test_no_sbatch_and_an_unshared_workspace_name_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH
    with pytest.raises(UserError, match="no `sbatch` on PATH.*--backend local"):
        slurm.check_ready(Cluster(), tmp_path)
    fake = tmp_path / "sbatch"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    sinfo = tmp_path / "sinfo"
    sinfo.write_text("#!/bin/sh\necho debug\necho gpu\n")
    sinfo.chmod(0o755)
    warnings = slurm.check_ready(Cluster(partition="gpu"), Path("/tmp/ws"))
    assert len(warnings) == 1 and "shared filesystem" in warnings[0]
    assert slurm.check_ready(Cluster(), Path("/home/someone/ws")) == []
    with pytest.raises(UserError, match=r"partition 'a100'.*debug, gpu.*backends.yaml"):
        slurm.check_ready(Cluster(partition="a100"), Path("/home/ws"))
