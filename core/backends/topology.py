"""The shape of a run's processes: nodes x processes per node (one per GPU, or `procs_per_node` CPU
processes with gloo), the command each node of a SLURM allocation runs, the rendezvous (first host,
a free port) and the topology record a run's saved config carries. Must not import torch, gradio or submitit.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from core.errors import UserError

PORT_WAIT_S = 120.0  # how long the other nodes wait for the first node's port file
SCONTROL_TIMEOUT_S = 30


@dataclass(frozen=True)
class Topology:
    """How many nodes, GPUs and processes a run's job spans (job.json's `topology`)."""

    nodes: int = 1
    gpus_per_node: int = 0
    procs_per_node: int = 1  # one per GPU; on CPU-only nodes, gloo processes

    @property
    def world_size(self) -> int:
        return self.nodes * self.procs_per_node

    @property
    def launcher(self) -> str:
        return "srun + accelerate launch" if self.world_size > 1 else "srun"

    def to_json(self) -> dict:
        return {**asdict(self), "num_processes": self.world_size, "launcher": self.launcher}

    @classmethod
    def from_json(cls, data: dict) -> Topology:
        """Read job.json's record (one written before `procs_per_node` existed: one per GPU)."""
        gpus = int(data.get("gpus_per_node", 0))
        return cls(int(data.get("nodes", 1)), gpus, int(data.get("procs_per_node") or max(gpus, 1)))


def of_cluster(cluster) -> Topology:
    """A cluster's topology: `procs_per_node` processes per node, else one per GPU, else one."""
    gpus, procs = cluster.gpus_per_node, cluster.procs_per_node
    if gpus and procs and procs != gpus:
        raise UserError(
            f"procs_per_node {procs} with gpus_per_node {gpus} (cluster {cluster.name!r}): each process "
            f"takes one GPU; drop --procs-per-node / procs_per_node or set it to {gpus}"
        )
    return Topology(cluster.nodes, gpus, procs or max(gpus, 1))


def node_argv(run_dir: Path, topo: Topology, node_rank: int, main_host: str, port: int) -> list[str]:
    """The command a node's task runs: the worker, or `accelerate launch` of this node's processes
    joining the others through `main_host:port`. Precision and compile are the config's business
    (the worker's Accelerator decides, with its fallbacks), not the launcher's."""
    if topo.world_size <= 1:
        return [sys.executable, "-m", "core.jobs.worker", str(run_dir)]
    # --multi_gpu with the worker's Accelerator(cpu=True) gives gloo processes on CPU nodes too.
    flags = {
        "--num_machines": topo.nodes,
        "--machine_rank": node_rank,
        "--main_process_ip": main_host,
        "--main_process_port": port,
        "--num_processes": topo.world_size,  # accelerate's total over all machines
        "--mixed_precision": "no",
        "--dynamo_backend": "no",
    }
    pairs = [str(part) for flag, value in flags.items() for part in (flag, value)]
    return [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", *pairs, "-m", "core.jobs.worker", str(run_dir)]


def node_rank() -> int:
    """This task's node in the allocation (SLURM_NODEID; 0 outside SLURM)."""
    return int(os.environ.get("SLURM_NODEID", "0"))


def main_host() -> str:
    """The allocation's first host (`scontrol show hostnames $SLURM_JOB_NODELIST`), where rank 0 listens."""
    nodelist = os.environ.get("SLURM_JOB_NODELIST") or os.environ.get("SLURM_NODELIST")
    if nodelist:
        out = subprocess.run(
            ["scontrol", "show", "hostnames", nodelist], capture_output=True, text=True, timeout=SCONTROL_TIMEOUT_S
        )
        hosts = out.stdout.split()
        if out.returncode == 0 and hosts:
            return hosts[0]
    return socket.gethostname()


def rendezvous_port(folder: Path, rank: int, nodes: int, timeout_s: float = PORT_WAIT_S) -> int:
    """A free port on the first node, shared with the others through a file in `folder` (the run
    folder's, on the shared filesystem), named after the job and its attempt (a requeue picks anew)."""
    attempt = f"{os.environ.get('SLURM_JOB_ID', 'local')}-{os.environ.get('SLURM_RESTART_COUNT', '0')}"
    path = Path(folder) / f"port-{attempt}"
    if rank == 0:
        with socket.socket() as s:
            s.bind(("", 0))
            port = s.getsockname()[1]
        if nodes > 1:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(str(port), encoding="utf-8")
            os.replace(tmp, path)
        return port
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return int(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            time.sleep(0.2)
    raise RuntimeError(f"node {rank}: the first node wrote no rendezvous port to {path} within {timeout_s:.0f} s")


def run_record(job: dict, world_size: int, mixed_precision: str, device: str) -> dict:
    """What the run's saved config records under `topology`: where and on how many processes it
    trained (the Accelerator's numbers: what ran, not what was asked)."""
    topo = Topology.from_json(job["topology"]) if job.get("topology") else None
    cluster = job.get("cluster") or {}
    backend = job.get("backend", "local")
    if backend != "local" and cluster.get("name", "default") != "default":
        backend = f"{backend}:{cluster['name']}"
    gpus = topo.gpus_per_node if topo else (world_size if device == "cuda" else 0)
    return {
        "backend": backend,
        "nodes": topo.nodes if topo else 1,
        "procs_per_node": world_size // (topo.nodes if topo else 1),
        "gpus_per_node": gpus,
        "world_size": world_size,
        "mixed_precision": mixed_precision,
        "scheduler_job": scheduler_job_id() if topo else None,
    }


def with_topology(config: dict, job: dict, accelerator) -> dict:
    """The config the run's history saves: `config` plus its `topology` record (`accelerator`: the
    worker's, after the machine's fall-backs)."""
    record = run_record(job, accelerator.num_processes, str(accelerator.mixed_precision), accelerator.device.type)
    return {**config, "topology": record}


def describe(record: dict | None) -> str | None:
    """`runs show`'s line: `slurm:gpu, 2 nodes x 4 processes (4 GPUs per node), world size 8, bf16, job 81`."""
    if not record:
        return None
    text = (
        f"{record['backend']}, {record['nodes']} node(s) x {record['procs_per_node']} process(es) "
        f"({record['gpus_per_node']} GPUs per node), world size {record['world_size']}, "
        f"mixed precision {record['mixed_precision']}"
    )
    return text + (f", job {record['scheduler_job']}" if record.get("scheduler_job") else "")


def scheduler_job_id() -> str | None:
    """This job's id as `squeue` shows it (`81_3` for an array task); None outside SLURM."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID")
