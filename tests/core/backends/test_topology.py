"""Processes per node and the command each node of an allocation runs, the rendezvous (first host,
a free port shared through the run folder), and the topology record of a run's saved config."""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path

import pytest

from core.backends import topology
from core.backends.config import Cluster
from core.backends.topology import Topology
from core.errors import UserError


def test_processes_per_node_are_one_per_gpu_or_the_cpu_setting():
    assert topology.of_cluster(Cluster()) == Topology(1, 0, 1)
    assert topology.of_cluster(Cluster(nodes=2, gpus_per_node=4)) == Topology(2, 4, 4)
    cpu = topology.of_cluster(Cluster(nodes=3, procs_per_node=2))
    assert cpu.world_size == 6 and cpu.launcher == "srun + accelerate launch"
    with pytest.raises(UserError, match="procs_per_node 2 with gpus_per_node 4.*set it to 4"):
        topology.of_cluster(Cluster(gpus_per_node=4, procs_per_node=2))
    # job.json written before procs_per_node existed: one process per GPU
    assert Topology.from_json({"nodes": 2, "gpus_per_node": 4, "num_processes": 8}) == Topology(2, 4, 4)
    assert Topology.from_json(cpu.to_json()) == cpu


def test_one_process_runs_the_worker_and_more_run_accelerate_over_every_node():
    assert topology.node_argv(Path("/r"), Topology(), 0, "", 0) == [sys.executable, "-m", "core.jobs.worker", "/r"]
    argv = topology.node_argv(Path("/r"), Topology(2, 4, 4), 1, "n1", 41234)
    assert argv[:4] == [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu"]
    flags = dict(zip(argv[4:-3:2], argv[5:-3:2]))
    assert flags == {
        "--num_machines": "2",
        "--machine_rank": "1",
        "--main_process_ip": "n1",
        "--main_process_port": "41234",
        "--num_processes": "8",
        "--mixed_precision": "no",
        "--dynamo_backend": "no",
    }
    assert argv[-3:] == ["-m", "core.jobs.worker", "/r"]


def test_the_other_nodes_read_the_port_the_first_node_picked(tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_JOB_ID", "77")
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    seen: list[int] = []
    reader = threading.Thread(target=lambda: seen.append(topology.rendezvous_port(tmp_path, 1, 2, timeout_s=20)))
    reader.start()
    port = topology.rendezvous_port(tmp_path, 0, 2)
    reader.join()
    assert seen == [port] and (tmp_path / "port-77-1").read_text() == str(port)
    with socket.socket() as s:
        s.bind(("", port))  # it was free (and is again: the first node only picked it)
    with pytest.raises(RuntimeError, match="no rendezvous port"):
        topology.rendezvous_port(tmp_path / "other", 1, 2, timeout_s=0.5)


def test_the_first_host_comes_from_scontrol(tmp_path, monkeypatch):
    fake = tmp_path / "scontrol"
    fake.write_text('#!/bin/sh\n[ "$3" = "node[3-4]" ] && printf "node3\\nnode4\\n"\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setenv("SLURM_JOB_NODELIST", "node[3-4]")
    assert topology.main_host() == "node3"
    monkeypatch.delenv("SLURM_JOB_NODELIST")
    monkeypatch.delenv("SLURM_NODELIST", raising=False)
    assert topology.main_host() == socket.gethostname()


def test_the_config_records_where_and_on_how_many_processes_it_ran(monkeypatch):
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "81")
    job = {"backend": "slurm", "cluster": {"name": "gpu"}, "topology": Topology(2, 4, 4).to_json()}
    assert topology.run_record(job, 8, "bf16", "cuda") == {
        "backend": "slurm:gpu",
        "nodes": 2,
        "procs_per_node": 4,
        "gpus_per_node": 4,
        "world_size": 8,
        "mixed_precision": "bf16",
        "scheduler_job": "81",
    }
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "90")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "3")
    assert topology.run_record({**job, "cluster": {"name": "default"}}, 8, "no", "cpu")["scheduler_job"] == "90_3"
    local = topology.run_record({"kind": "train"}, 2, "no", "cpu")
    assert local == {
        "backend": "local",
        "nodes": 1,
        "procs_per_node": 2,
        "gpus_per_node": 0,
        "world_size": 2,
        "mixed_precision": "no",
        "scheduler_job": None,
    }
