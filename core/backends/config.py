"""`backends.yaml`: the named SLURM clusters a run can be sent to, as typed dataclasses.

Read from `<workspace>/backends.yaml`, else `~/.config/babyllama/backends.yaml`. Every problem is a
UserError naming the file, the key and the fix. Must not import torch, gradio or submitit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from core import yamlio
from core.errors import UserError
from core.workspace import Workspace

FILE_NAME = "backends.yaml"
USER_FILE = Path("~/.config/babyllama") / FILE_NAME
TIME_RE = re.compile(r"^(?:(\d+)-)?(\d{1,3}):(\d{2}):(\d{2})$")
DEFAULT_TIME = "01:00:00"
EXAMPLE = """clusters:
  gpu:
    partition: gpu
    gpus_per_node: 4
    time: "24:00:00"
"""


@dataclass(frozen=True)
class Cluster:
    """One named SLURM target: where and with what a run's job asks to run."""

    name: str = "default"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    nodes: int = 1
    gpus_per_node: int = 0
    procs_per_node: int = 0  # training processes per node: 0 = one per GPU (one on a CPU node); >1 on CPU: gloo
    cpus_per_task: int = 1
    mem_gb: float | None = None
    time: str = DEFAULT_TIME  # HH:MM:SS or D-HH:MM:SS, the job's time limit
    signal_delay_s: int = 120  # the stop signal comes this long before the limit: checkpoint, requeue
    array_parallelism: int = 4  # sweep trials running at once
    extra_sbatch: list[str] = field(default_factory=list)  # more `#SBATCH` lines: "--constraint=a100"
    setup: list[str] = field(default_factory=list)  # shell lines before the job: module load, venv

    @property
    def timeout_min(self) -> int:
        """The time limit in whole minutes (SLURM's granularity), at least 1."""
        return max(1, -(-parse_time(self.time, "time") // 60))


def parse_time(value: str, where: str) -> int:
    """Seconds in `HH:MM:SS` or `D-HH:MM:SS`; a UserError naming `where` otherwise."""
    match = TIME_RE.match(str(value).strip())
    if not match or int(match.group(3)) >= 60 or int(match.group(4)) >= 60:
        raise UserError(f"{where}: {value!r} is not a time limit; write HH:MM:SS or D-HH:MM:SS, e.g. 04:00:00")
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    if total <= 0:
        raise UserError(f"{where}: the time limit must be longer than 0; e.g. 00:30:00")
    return total


def config_path(ws: Workspace) -> Path | None:
    """The backends.yaml in use: the workspace's, else the user's; None when neither exists."""
    for path in (ws.root / FILE_NAME, USER_FILE.expanduser()):
        if path.is_file():
            return path
    return None


def load_clusters(ws: Workspace) -> dict[str, Cluster]:
    """Every cluster the backends.yaml in use names (empty without one)."""
    path = config_path(ws)
    if path is None:
        return {}
    data = yamlio.load_file(path, "backends file") or {}
    if not isinstance(data, dict) or not isinstance(data.get("clusters", {}), dict):
        raise UserError(f"{path}: expected a `clusters:` mapping of names to settings, e.g.\n{EXAMPLE}")
    unknown = set(data) - {"clusters", "default"}
    if unknown:
        raise UserError(f"{path}: unknown top-level key(s) {sorted(unknown)}; only `clusters` and `default` exist")
    return {str(name): _cluster(path, str(name), body) for name, body in (data.get("clusters") or {}).items()}


def get_cluster(ws: Workspace, name: str | None) -> Cluster:
    """The named cluster; without a name, the file's `default` or its only cluster, else the
    scheduler's own defaults (its default partition)."""
    clusters = load_clusters(ws)
    path = config_path(ws)
    if name is None:
        if path is not None:
            default = (yamlio.load_file(path, "backends file") or {}).get("default")
            if default:
                name = str(default)
            elif len(clusters) == 1:
                return next(iter(clusters.values()))
        if name is None:
            return Cluster()
    if name not in clusters:
        where = path or f"{ws.root / FILE_NAME} (or {USER_FILE})"
        known = ", ".join(sorted(clusters)) or "none"
        raise UserError(
            f"--backend slurm:{name}: no cluster {name!r} in {where} (clusters: {known}); "
            f"add it under `clusters:`, e.g.\n{EXAMPLE}"
        )
    return clusters[name]


def with_overrides(
    cluster: Cluster,
    *,
    nodes: int | None = None,
    gpus_per_node: int | None = None,
    time: str | None = None,
    procs_per_node: int | None = None,
) -> Cluster:
    """The cluster with the command line's --nodes / --gpus-per-node / --procs-per-node / --time applied."""
    changes: dict[str, Any] = {}
    for key, value in (("nodes", nodes), ("gpus_per_node", gpus_per_node), ("procs_per_node", procs_per_node)):
        if value is not None:
            changes[key] = value
    if time is not None:
        parse_time(time, "--time")
        changes["time"] = time
    return replace(cluster, **changes)


_INT_KEYS = {"nodes": 1, "gpus_per_node": 0, "procs_per_node": 0, "cpus_per_task": 1, "signal_delay_s": 0, "array_parallelism": 1}
_STR_KEYS = ("partition", "account", "qos", "time")


def _cluster(path: Path, name: str, body: Any) -> Cluster:
    where = f"{path}: clusters.{name}"
    if not isinstance(body, dict):
        raise UserError(f"{where}: expected a mapping of settings (partition, gpus_per_node, time, ...)")
    known = {f.name for f in fields(Cluster)} - {"name"}
    unknown = sorted(set(body) - known)
    if unknown:
        raise UserError(f"{where}: unknown key(s) {unknown}; known: {', '.join(sorted(known))}")
    values: dict[str, Any] = {"name": name}
    for key, value in body.items():
        values[key] = _value(f"{where}.{key}", key, value)
    cluster = Cluster(**values)
    parse_time(cluster.time, f"{where}.time")
    return cluster


def _value(where: str, key: str, value: Any) -> Any:
    if key in _INT_KEYS:
        if isinstance(value, bool) or not isinstance(value, int) or value < _INT_KEYS[key]:
            raise UserError(f"{where}: expected a whole number >= {_INT_KEYS[key]}, got {value!r}")
        return value
    if key == "mem_gb":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise UserError(f"{where}: expected memory in GB (a number > 0), got {value!r}")
        return float(value)
    if key in ("extra_sbatch", "setup"):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise UserError(f'{where}: expected a list of lines, e.g. ["--constraint=a100"]')
        return list(value)
    if key in _STR_KEYS:
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise UserError(f"{where}: expected text, got {value!r}")
        return str(value)
    raise UserError(f"{where}: unknown key")  # unreachable: _cluster checked the names


def sbatch_options(extra: list[str], where: str = "extra_sbatch") -> dict[str, str | bool]:
    """`--constraint=a100` / `#SBATCH --exclusive` lines as submitit's slurm_additional_parameters."""
    options: dict[str, str | bool] = {}
    for line in extra:
        text = line.strip().removeprefix("#SBATCH").strip()
        if not text.startswith("--"):
            raise UserError(f"{where}: {line!r} is not an sbatch option; write it as --key=value, e.g. --constraint=a100")
        key, _, value = text[2:].partition("=")
        options[key.replace("-", "_")] = value if value else True
    return options
