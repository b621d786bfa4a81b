"""From "where should it run" (a `--backend` value plus --nodes / --gpus-per-node / --procs-per-node / --time /
--max-parallel) to a `BackendChoice`, the same for the CLI and the studio's "Run on"; also the
targets a workspace offers and a run's "where" text. Must not import gradio, studio or torch.
"""

from __future__ import annotations

import dataclasses

from core import yamlio
from core.backends import LOCAL, SLURM, BackendChoice, parse_flag
from core.backends.config import Cluster, config_path, get_cluster, load_clusters, with_overrides
from core.backends.topology import of_cluster
from core.errors import UserError
from core.workspace import Workspace


@dataclasses.dataclass(frozen=True)
class Where:
    """What the user asked for: a `--backend` value and the overrides (None: the cluster's own)."""

    backend: str = LOCAL
    nodes: int | None = None
    gpus_per_node: int | None = None
    time: str | None = None
    max_parallel: int | None = None
    num_processes: int = 1
    procs_per_node: int | None = None


def choose(ws: Workspace, where: Where, *, check: bool = True) -> tuple[BackendChoice | None, list[str]]:
    """(the BackendChoice, warnings); None for `local`. `check`: sbatch on PATH, the partition
    known to `sinfo` (a UserError naming the fix otherwise)."""
    kind, name = parse_flag(where.backend)
    for flag, value, low in (
        ("--nodes", where.nodes, 1),
        ("--gpus-per-node", where.gpus_per_node, 0),
        ("--procs-per-node", where.procs_per_node, 1),
        ("--max-parallel", where.max_parallel, 1),
    ):
        if value is not None and value < low:
            raise UserError(f"{flag}: {value} is below {low}; give a whole number >= {low}")
    if kind != SLURM:
        given = [
            f
            for f, v in (
                ("--nodes", where.nodes),
                ("--gpus-per-node", where.gpus_per_node),
                ("--procs-per-node", where.procs_per_node),
                ("--time", where.time),
            )
            if v is not None
        ]
        if given:
            raise UserError(f"{', '.join(given)} only apply to --backend slurm; add --backend slurm or drop them")
        if where.max_parallel is not None:
            raise UserError(
                "--max-parallel caps a SLURM job array: add --backend slurm, or drop it "
                "(local trials run BABYLLAMA_MAX_JOBS at a time)"
            )
        return None, []
    if where.num_processes > 1:
        raise UserError(
            "--num-processes is for --backend local; on SLURM use --nodes with --gpus-per-node (GPUs) or --procs-per-node (CPU)"
        )
    cluster = with_overrides(
        get_cluster(ws, name),
        nodes=where.nodes,
        gpus_per_node=where.gpus_per_node,
        time=where.time,
        procs_per_node=where.procs_per_node,
    )
    of_cluster(cluster)  # procs per node that contradict the GPUs: said before anything is written
    if where.max_parallel is not None:
        cluster = dataclasses.replace(cluster, array_parallelism=where.max_parallel)
    warnings: list[str] = []
    if check:
        from core.backends.slurm import check_ready

        warnings = check_ready(cluster, ws.root)
    return BackendChoice(SLURM, cluster), warnings


def targets(ws: Workspace) -> list[str]:
    """`local`, then `slurm` when backends.yaml sets a `default:` cluster, then `slurm:NAME` per cluster."""
    clusters = load_clusters(ws)
    path = config_path(ws)
    default = path is not None and (yamlio.load_file(path, "backends file") or {}).get("default")
    return [LOCAL, *([SLURM] if default else []), *(f"{SLURM}:{n}" for n in clusters)]


def cluster_of(ws: Workspace, backend: str) -> Cluster | None:
    """The cluster a target names (its settings are the fields' defaults); None for `local`."""
    kind, name = parse_flag(backend)
    return get_cluster(ws, name) if kind == SLURM else None


def flags(ws: Workspace, where: Where) -> list[str]:
    """The CLI flags that ask for `where`: --backend, and each override that differs from the cluster's."""
    cluster = cluster_of(ws, where.backend)
    if cluster is None:
        return []
    out = [f"--backend={where.backend}"]
    for flag, value, own in (
        ("--nodes", where.nodes, cluster.nodes),
        ("--gpus-per-node", where.gpus_per_node, cluster.gpus_per_node),
        ("--procs-per-node", where.procs_per_node, cluster.procs_per_node),
        ("--time", where.time, cluster.time),
        ("--max-parallel", where.max_parallel, cluster.array_parallelism),
    ):
        if value is not None and value != own:
            out.append(f"{flag}={value}")
    return out


def describe(run) -> str:
    """Where a run (core.history.Run) runs: `local`, or `slurm:gpu job 81 PENDING (Resources)`."""
    return where_text(run.backend, run.scheduler_job, run.scheduler_state)


def where_text(backend: str | None, scheduler_job: str | None, scheduler_state: str | None) -> str:
    """`describe` from the three columns (a sweep's trial rows carry them without a Run)."""
    if not scheduler_job:
        return backend or LOCAL
    return f"{backend} job {scheduler_job} {scheduler_state or ''}".rstrip()
