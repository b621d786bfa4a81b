"""`--backend local|slurm[:NAME]` with `--nodes`, `--gpus-per-node`, `--procs-per-node`, `--time` for `train`
and `sweep` (and the one-process `eval` / `export` jobs), turned into a `core.backends.BackendChoice`.
Must not import gradio, torch or submitit.
"""

from __future__ import annotations

import sys

from core.workspace import Workspace


def add_backend_args(p) -> None:
    """The backend flags of a command that starts training jobs."""
    from core.bounds import bounded

    g = p.add_argument_group("where it runs")
    g.add_argument(
        "--backend",
        default="local",
        metavar="local|slurm[:NAME]",
        help="local (this machine, default) or slurm: a SLURM job through submitit; NAME picks a "
        "cluster of backends.yaml (workspace, else ~/.config/babyllama/); docs/cluster.md",
    )
    g.add_argument(
        "--nodes",
        type=bounded(int, 1, 4096),
        default=None,
        help="SLURM nodes (overrides the cluster's `nodes`); >1 starts accelerate launch on each",
    )
    g.add_argument(
        "--gpus-per-node",
        "--gpus_per_node",
        dest="gpus_per_node",
        type=bounded(int, 0, 64),
        default=None,
        help="GPUs per SLURM node (overrides the cluster's `gpus_per_node`)",
    )
    g.add_argument(
        "--procs-per-node",
        "--procs_per_node",
        dest="procs_per_node",
        type=bounded(int, 1, 1024),
        default=None,
        help="training processes per SLURM node (overrides the cluster's `procs_per_node`; default one per GPU); "
        "on CPU nodes >1 runs gloo processes through accelerate launch",
    )
    g.add_argument(
        "--time",
        default=None,
        metavar="HH:MM:SS",
        help="the SLURM job's time limit (overrides the cluster's `time`); before it, the run checkpoints and is requeued",
    )


def choose_backend(args, ws: Workspace):
    """The BackendChoice the flags ask for (warnings printed to stderr); None for `local`.
    The rules live in `core.backends.choice`, shared with the studio's "Run on"."""
    from core.backends.choice import Where, choose

    where = Where(
        args.backend,
        args.nodes,
        args.gpus_per_node,
        args.time,
        getattr(args, "max_parallel", None),
        getattr(args, "num_processes", 1),
        args.procs_per_node,
    )
    backend, warnings = choose(ws, where)
    for warning in warnings:
        print(warning, file=sys.stderr, flush=True)
    return backend


def one_process_backend(args, ws: Workspace, command: str):
    """The `--backend` choice of a one-process job (`eval`, `export`); None for this machine."""
    from core.backends.topology import of_cluster
    from core.errors import UserError

    backend = choose_backend(args, ws)
    if backend is not None and of_cluster(backend.cluster).world_size > 1:
        raise UserError(f"{command} runs as one process: drop --nodes / --procs-per-node and keep --gpus-per-node at 0 or 1")
    return backend
