"""`--backend local|slurm[:NAME]` with `--nodes`, `--gpus-per-node`, `--time` for `train` and
`sweep`, turned into a `core.backends.BackendChoice`. Must not import gradio, torch or submitit.
"""
from __future__ import annotations

import sys

from core.workspace import Workspace


def add_backend_args(p) -> None:
    """The backend flags of a command that starts training jobs."""
    from core.bounds import bounded

    g = p.add_argument_group("where it runs")
    g.add_argument("--backend", default="local", metavar="local|slurm[:NAME]",
                   help="local (this machine, default) or slurm: a SLURM job through submitit; NAME picks a "
                        "cluster of backends.yaml (workspace, else ~/.config/babyllama/); docs/cluster.md")
    g.add_argument("--nodes", type=bounded(int, 1, 4096), default=None,
                   help="SLURM nodes (overrides the cluster's `nodes`); >1 starts accelerate launch on each")
    g.add_argument("--gpus-per-node", "--gpus_per_node", dest="gpus_per_node", type=bounded(int, 0, 64),
                   default=None, help="GPUs per SLURM node (overrides the cluster's `gpus_per_node`)")
    g.add_argument("--time", default=None, metavar="HH:MM:SS",
                   help="the SLURM job's time limit (overrides the cluster's `time`); before it, the run "
                        "checkpoints and is requeued")


def choose_backend(args, ws: Workspace):
    """The BackendChoice the flags ask for (warnings printed to stderr); None for `local`."""
    from core.backends import SLURM, BackendChoice, parse_flag
    from core.backends.config import get_cluster, with_overrides
    from core.errors import UserError

    kind, name = parse_flag(args.backend)
    if kind != SLURM:
        given = [f for f, v in (("--nodes", args.nodes), ("--gpus-per-node", args.gpus_per_node),
                                ("--time", args.time)) if v is not None]
        if given:
            raise UserError(f"{', '.join(given)} only apply to --backend slurm; add --backend slurm or drop them")
        return None
    if getattr(args, "num_processes", 1) > 1:
        raise UserError("--num-processes is for --backend local; on SLURM use --nodes and --gpus-per-node")
    cluster = with_overrides(get_cluster(ws, name), nodes=args.nodes, gpus_per_node=args.gpus_per_node, time=args.time)
    from core.backends.slurm import check_ready

    for warning in check_ready(cluster, ws.root):
        print(warning, file=sys.stderr, flush=True)
    return BackendChoice(SLURM, cluster)
