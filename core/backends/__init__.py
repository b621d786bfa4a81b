"""Compute backends: where a run's worker executes. `local` (a subprocess of this machine, the
default) or `slurm[:CLUSTER]` (a job of a SLURM cluster through submitit, `core.backends.slurm`).

`core.jobs` dispatches on a run's `backend` column; this package must not import gradio, studio
or torch, and only `slurm.py` imports submitit (lazily, so a machine without it runs local jobs).
"""

from __future__ import annotations

from dataclasses import dataclass

from core.backends.config import Cluster
from core.errors import UserError

LOCAL = "local"
SLURM = "slurm"


@dataclass(frozen=True)
class BackendChoice:
    """What `--backend` asked for: `local`, or `slurm` with the cluster's settings resolved."""

    kind: str = LOCAL
    cluster: Cluster | None = None
    hold: bool = False  # write the run but submit nothing: the caller submits several as one job array

    @property
    def label(self) -> str:
        """The run row's `backend` column: `local`, `slurm` or `slurm:<cluster>`."""
        if self.kind == LOCAL or self.cluster is None or self.cluster.name == "default":
            return self.kind
        return f"{self.kind}:{self.cluster.name}"


def parse_flag(value: str) -> tuple[str, str | None]:
    """`local` -> ("local", None), `slurm` -> ("slurm", None), `slurm:gpu` -> ("slurm", "gpu")."""
    kind, _, name = value.partition(":")
    if kind not in (LOCAL, SLURM) or (kind == LOCAL and name) or (":" in value and not name):
        raise UserError(f"--backend {value!r}: write `local`, `slurm` or `slurm:NAME` (a cluster of backends.yaml)")
    return kind, name or None


def is_scheduled(backend: str | None) -> bool:
    """Whether a run's backend column names a scheduler (its queue, not ours, orders the jobs)."""
    return bool(backend) and backend != LOCAL
