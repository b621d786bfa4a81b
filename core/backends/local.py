"""The `local` backend: a run's worker as a subprocess of this machine, in its own session.

`launch` starts `python -m core.jobs.worker RUN_DIR` (or `accelerate launch` of it for N processes),
output to RUN_DIR/run.log; `kill` ends its process group. Must not import torch or gradio.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

LOG_FILE = "run.log"
# glibc keeps freed arenas mapped instead of returning them every step: measured 1.25-1.3x
# faster CPU training here. It must be set before the process starts, hence here.
# No tqdm bars in run.log (they are \r-animations: a page of "Writing model shards: 0%|" per save):
# tqdm's own switch plus the hub's and datasets' (which override code that turns bars back on);
# the worker also turns transformers' off. Our own lines carry progress and ETA.
QUIET_BARS_ENV = {"TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "HF_DATASETS_DISABLE_PROGRESS_BARS": "1"}
WORKER_ENV = {
    "GLIBC_TUNABLES": "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184",
    "PYTHONUNBUFFERED": "1",
    "TOKENIZERS_PARALLELISM": "false",
    **QUIET_BARS_ENV,
}
CHECKOUT = Path(__file__).resolve().parents[2]  # the folder holding core/


def worker_argv(run_dir: Path, num_processes: int = 1) -> list[str]:
    """The exact command a job runs (list argv, never a shell string)."""
    if num_processes > 1:
        # --multi_gpu with the worker's Accelerator(cpu=True) gives N gloo processes on CPU too.
        # Precision is the config's business (the worker's Accelerator decides), not launch's.
        return [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--multi_gpu",
            "--num_machines",
            "1",
            "--num_processes",
            str(num_processes),
            "--mixed_precision",
            "no",
            "--dynamo_backend",
            "no",
            "-m",
            "core.jobs.worker",
            str(run_dir),
        ]
    return [sys.executable, "-m", "core.jobs.worker", str(run_dir)]


def format_command(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)


def worker_env() -> dict[str, str]:
    """The environment a worker (or a bench's child process) starts with: this one plus
    WORKER_ENV, and PYTHONPATH leading to this checkout, so `core` imports even when the
    package is not installed."""
    env = {**os.environ, **WORKER_ENV}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CHECKOUT), env.get("PYTHONPATH")]))
    return env


def launch(run_dir: Path, num_processes: int) -> subprocess.Popen:
    """Start the worker of `run_dir` in its own session; its output goes to run.log."""
    env = worker_env()
    with open(run_dir / LOG_FILE, "ab") as log:
        return subprocess.Popen(
            worker_argv(run_dir, num_processes),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
            cwd=run_dir,
        )


def kill(pid: int) -> None:
    """SIGKILL the process group the worker `pid` leads (its children go too). A worker is started
    in its own session, so it leads its group; a pid that leads none is signalled alone, and
    pids 0 and 1 never (killpg(1) would reach every service started by init)."""
    if pid <= 1:
        raise ValueError(f"refusing to kill pid {pid}: not a worker")
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
