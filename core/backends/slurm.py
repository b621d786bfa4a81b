"""The `slurm` backend: a run's worker as a SLURM job, submitted through submitit.

The submitted callable (`WorkerTask`) starts `core.jobs.worker` (or `accelerate launch` of it over the
allocation's nodes and GPUs) on the compute node and waits. SLURM's warning before the time limit
or a pre-emption (USR2) makes the worker checkpoint; the job is then requeued and continues from the
checkpoint. `runs stop` is `scancel --signal=TERM`, which the worker treats as a stop. The state
shown comes from squeue / scontrol (`core.backends.state`). Must not import torch or gradio.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

from core.backends import local, state, topology
from core.backends.config import Cluster, sbatch_options
from core.errors import UserError

SUBMITIT_FOLDER = "slurm"  # in the run folder (a sweep's folder for arrays): submitit's pickles and logs
UNSHARED = ("/tmp", "/var/tmp", "/dev/shm", "/run")


def check_ready(cluster: Cluster, workspace: Path) -> list[str]:
    """Raise a UserError naming the fix when jobs cannot be submitted; return warnings to print."""
    if shutil.which("sbatch") is None:
        raise UserError(
            "--backend slurm: no `sbatch` on PATH; run this on a SLURM login node (or "
            "`module load slurm` first), or use --backend local"
        )
    if importlib.util.find_spec("submitit") is None:
        raise UserError("--backend slurm needs the submitit package: pip install submitit")
    if cluster.partition:
        known = _partitions()
        if known is not None and cluster.partition not in known:
            raise UserError(
                f"partition {cluster.partition!r} (cluster {cluster.name!r}) is not on this cluster; "
                f"`sinfo` lists: {', '.join(sorted(known)) or 'none'}; fix `partition:` in backends.yaml"
            )
    root = str(Path(workspace).resolve())
    if any(root == p or root.startswith(p + "/") for p in UNSHARED):
        return [
            f"warning: the workspace {root} is on a machine-local path; compute nodes other than this one "
            "cannot see it: put the workspace on the shared filesystem (e.g. under $HOME or /scratch)"
        ]
    return []


def _partitions() -> set[str] | None:
    out = subprocess.run(["sinfo", "-h", "-o", "%R"], capture_output=True, text=True, timeout=state.QUERY_TIMEOUT_S)
    return {p.strip() for p in out.stdout.split()} if out.returncode == 0 else None


class WorkerTask:
    """The callable submitit runs on the compute node (one task per node). It has a `checkpoint`
    method, so submitit requeues the job when SLURM's USR2 warning comes."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = run_dir
        self._proc: subprocess.Popen | None = None
        self._terminated = False

    def __getstate__(self) -> dict:
        return {"run_dir": self.run_dir}  # the child process handle stays behind

    def __setstate__(self, values: dict) -> None:
        self.__init__(values["run_dir"])

    def __call__(self) -> int:
        run_dir = Path(self.run_dir)
        job = json.loads((run_dir / "job.json").read_text(encoding="utf-8"))
        argv = _node_command(run_dir, topology.Topology.from_json(job["topology"]))
        # SLURM signals every process of the step: the worker gets `scancel --signal=TERM` itself
        # and must ignore USR2, which this process turns into a checkpoint and a requeue.
        signal.signal(signal.SIGTERM, self._on_term)
        with open(run_dir / local.LOG_FILE, "ab") as log:
            self._proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=local.worker_env(),
                cwd=run_dir,
                preexec_fn=_ignore_usr2,
            )
        # poll, not wait(): Popen.wait holds a lock that `checkpoint` (a signal handler in this
        # thread) would need, and would deadlock on.
        while (code := self._proc.poll()) is None:
            time.sleep(0.5)
        if code != 0:
            raise RuntimeError(f"the worker exited with code {code}; see {run_dir / local.LOG_FILE}")
        return code

    def _on_term(self, signum, frame) -> None:
        self._terminated = True  # the worker got the same signal: it checkpoints and stops

    def checkpoint(self):
        """SLURM's time-limit or pre-emption warning: the worker checkpoints and ends `stopped`;
        the requeued job continues from that checkpoint."""
        import submitit

        proc = self._proc
        if proc is not None and proc.poll() is None:
            if not self._terminated:
                proc.send_signal(signal.SIGTERM)
            if not _reaped(proc.pid, _grace_s(Path(self.run_dir))):
                proc.kill()
                _reaped(proc.pid, 10.0)
        point_at_latest_checkpoint(Path(self.run_dir), requeued=True)
        return submitit.helpers.DelayedSubmission(WorkerTask(self.run_dir))


def _node_command(run_dir: Path, topo: topology.Topology) -> list[str]:
    """This node's command: its rank from SLURM_NODEID, the first host from `scontrol show
    hostnames`, a free port the first node picks (shared through the run folder)."""
    if topo.world_size <= 1:
        return topology.node_argv(run_dir, topo, 0, "", 0)
    rank = topology.node_rank()
    port = topology.rendezvous_port(run_dir / SUBMITIT_FOLDER, rank, topo.nodes)
    return topology.node_argv(run_dir, topo, rank, topology.main_host(), port)


def _reaped(pid: int, timeout_s: float) -> bool:
    """Whether the child `pid` ended within `timeout_s` (reaped here, without Popen's lock)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return True
        except ChildProcessError:
            return True
        time.sleep(0.2)
    return False


def _ignore_usr2() -> None:
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)


def _grace_s(run_dir: Path) -> float:
    job = json.loads((run_dir / "job.json").read_text(encoding="utf-8"))
    return max(10.0, float(job.get("cluster", {}).get("signal_delay_s", 120)) - 10.0)


def point_at_latest_checkpoint(run_dir: Path, requeued: bool = False) -> Path | None:
    """Set job.json's `resume_from` to the newest intact checkpoint (None: start over)."""
    from core.train import checkpoint as ckpt  # torch: only on the compute node, at a requeue

    chosen = ckpt.latest_valid(run_dir)
    job = json.loads((run_dir / "job.json").read_text(encoding="utf-8"))
    job["resume_from"] = str(chosen) if chosen else job.get("resume_from")
    job["requeues"] = int(job.get("requeues", 0)) + int(requeued)
    tmp = run_dir / ".job.json.tmp"
    tmp.write_text(json.dumps(job, indent=1), encoding="utf-8")
    os.replace(tmp, run_dir / "job.json")
    (run_dir / "STOP").unlink(missing_ok=True)
    return chosen


def job_fields(cluster: Cluster) -> dict:
    """What job.json gets for a SLURM run (the compute node reads it; the head reads it to resume)."""
    return {
        "backend": "slurm",
        "history": "events",
        "cluster": asdict(cluster),
        "topology": topology.of_cluster(cluster).to_json(),
    }


def executor(folder: Path, cluster: Cluster, *, job_name: str):
    """A submitit executor for `cluster`, writing its pickles and logs under `folder`."""
    import submitit

    ex = submitit.AutoExecutor(folder=folder, cluster="slurm")
    params: dict = {
        "name": job_name,
        "nodes": cluster.nodes,
        "tasks_per_node": 1,
        "cpus_per_task": cluster.cpus_per_task,
        "timeout_min": cluster.timeout_min,
        "slurm_signal_delay_s": cluster.signal_delay_s,
        "slurm_array_parallelism": cluster.array_parallelism,
        "slurm_stderr_to_stdout": True,
        "slurm_setup": [*cluster.setup, f"export PYTHONPATH={local.CHECKOUT}${{PYTHONPATH:+:$PYTHONPATH}}"],
        "slurm_additional_parameters": sbatch_options(cluster.extra_sbatch, f"clusters.{cluster.name}.extra_sbatch"),
    }
    if cluster.gpus_per_node:
        params["gpus_per_node"] = cluster.gpus_per_node
    if cluster.mem_gb:
        params["mem_gb"] = cluster.mem_gb
    for key in ("partition", "account", "qos"):
        if getattr(cluster, key):
            params[f"slurm_{key}"] = getattr(cluster, key)
    ex.update_parameters(**params)
    return ex


def submit(run_dir: Path, cluster: Cluster, *, job_name: str) -> str:
    """Submit the worker of `run_dir` as one SLURM job; its job id."""
    job = executor(run_dir / SUBMITIT_FOLDER, cluster, job_name=job_name).submit(WorkerTask(str(run_dir)))
    return str(job.job_id)


def submit_array(run_dirs: list[Path], cluster: Cluster, folder: Path, *, job_name: str) -> list[str]:
    """Submit several runs as one job array, at most `cluster.array_parallelism` at once; their ids."""
    ex = executor(folder, cluster, job_name=job_name)
    with ex.batch():
        submitted = [ex.submit(WorkerTask(str(d))) for d in run_dirs]
    return [str(j.job_id) for j in submitted]


def signal_stop(job_id: str) -> None:
    """Ask a running job to stop as `runs stop` does (SIGTERM to its steps: checkpoint, `stopped`)."""
    subprocess.run(["scancel", "--signal=TERM", job_id], capture_output=True, timeout=state.QUERY_TIMEOUT_S)


def cancel(job_id: str) -> None:
    """Remove a job from the queue, or end a running one at once."""
    subprocess.run(["scancel", job_id], capture_output=True, timeout=state.QUERY_TIMEOUT_S)


def wait_gone(job_id: str, timeout_s: float) -> bool:
    """Whether the job left the active states within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = state.query(job_id)
        if found is None or not found.active:
            return True
        time.sleep(0.5)
    return False
