"""`babyllama doctor`: is this machine ready to train? Python, packages, device, memory, disk, SQLite.

Each check returns ok / warn / fail with a detail and, for problems, the fix. Package versions come
from importlib.metadata (no imports); only torch is imported, for the device. Must not import gradio.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

from core.workspace import Workspace

OK, WARN, FAIL = "ok", "warn", "fail"
GB = 1024**3

# (distribution, lowest version that works, first version that does not) -- as in pyproject.toml.
PACKAGES = (
    ("torch", "2.4", None),
    ("transformers", "5.0", "6"),
    ("datasets", "4.0", None),
    ("tokenizers", "0.21", None),
    ("accelerate", "1.0", None),
    ("gradio", "6.0", "7"),
    ("plotly", "6.0", None),
    ("sqlite-utils", "3.38", None),
    ("safetensors", "0.4", None),
)
_INSTALL_FIX = "reinstall the project: pip install torch==2.13.0 -e '.[test]'"


@dataclass(frozen=True)
class Check:
    """One readiness check: a short name, ok|warn|fail, what was found, and how to fix a problem."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def run_checks(workspace: Workspace | None = None) -> list[Check]:
    """Every check, in the order the doctor table prints them."""
    ws = workspace or Workspace.resolve()
    checks = [check_python()]
    checks += [check_package(*spec) for spec in PACKAGES]
    gpus = _gpus()
    checks += [check_device(gpus), check_threads(), check_ram(), check_disk(ws.root), check_accelerate(len(gpus)), check_sqlite()]
    return checks


def check_python(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> Check:
    text = ".".join(map(str, version))
    if version < (3, 11):
        return Check("python", FAIL, f"Python {text}", "use Python 3.11 or newer (python3.11 -m venv .venv)")
    return Check("python", OK, f"Python {text} ({sys.executable})")


def check_package(dist: str, low: str, high: str | None = None) -> Check:
    """Installed version of one distribution against the range pyproject.toml asks for."""
    from packaging.version import InvalidVersion, Version

    try:
        found = metadata.version(dist)
    except metadata.PackageNotFoundError:
        return Check(dist, FAIL, "not installed", _INSTALL_FIX)
    wanted = f">={low}" + (f",<{high}" if high else "")
    try:
        base = Version(Version(found).base_version)  # 2.13.0+cpu -> 2.13.0
    except InvalidVersion:
        return Check(dist, WARN, f"{found} (unrecognised version; wanted {wanted})", _INSTALL_FIX)
    if base < Version(low) or (high and base >= Version(high)):
        return Check(dist, FAIL, f"{found} (wanted {wanted})", _INSTALL_FIX)
    return Check(dist, OK, found)


def _gpus() -> list[tuple[str, float]]:
    """(name, memory GB) of each CUDA device; [] without torch or CUDA."""
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    return [
        (torch.cuda.get_device_name(i), torch.cuda.get_device_properties(i).total_memory / GB)
        for i in range(torch.cuda.device_count())
    ]


def _mps_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())


def check_device(gpus: list[tuple[str, float]]) -> Check:
    if gpus:
        names = ", ".join(f"{name} ({mem:.1f} GB)" for name, mem in gpus)
        if min(mem for _, mem in gpus) < 4:
            return Check(
                "device",
                WARN,
                f"CUDA: {names}",
                "under 4 GB of GPU memory: use the tiny presets or a smaller batch with accumulation",
            )
        return Check("device", OK, f"CUDA x{len(gpus)}: {names}")
    if _mps_available():
        return Check("device", OK, "Apple MPS")
    return Check(
        "device",
        WARN,
        "CPU only (no CUDA or MPS device found)",
        "training runs, but slowly: start with the tiny preset, or use a machine with a GPU",
    )


def check_threads() -> Check:
    cpus = os.cpu_count() or 1
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:
        return Check("cpu threads", FAIL, f"{cpus} CPUs; torch missing", _INSTALL_FIX)
    detail = f"torch uses {threads} of {cpus} CPU threads"
    if threads == 1 and cpus > 1:  # usually OMP_NUM_THREADS=1 left over from a launcher
        return Check("cpu threads", WARN, detail, f"unset OMP_NUM_THREADS or set it to {cpus}")
    return Check("cpu threads", OK, detail)


def check_ram() -> Check:
    import psutil

    mem = psutil.virtual_memory()
    detail = f"{mem.total / GB:.1f} GB total, {mem.available / GB:.1f} GB available"
    if mem.available < 1 * GB:
        return Check("ram", FAIL, detail, "close other programs: under 1 GB of memory is free")
    if mem.total < 8 * GB or mem.available < 2 * GB:
        return Check("ram", WARN, detail, "8 GB or more is recommended: use the tiny presets, small batches")
    return Check("ram", OK, detail)


def _existing_parent(path: Path) -> Path:
    path = Path(path).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_disk_gb(root: Path) -> float:
    """Free space where the workspace lives (or would be created)."""
    return shutil.disk_usage(_existing_parent(root)).free / GB


def check_disk(root: Path) -> Check:
    free = free_disk_gb(root)
    detail = f"{free:.1f} GB free at {_existing_parent(root)}"
    if free < 0.5:
        return Check("disk", FAIL, detail, "free some space or pass --workspace on a larger disk")
    if free < 2:
        return Check("disk", WARN, detail, "2 GB or more is recommended for models, data and caches")
    return Check("disk", OK, detail)


def accelerate_config_path() -> Path:
    """Where `accelerate config` writes its default file (mirrors accelerate's own rule, no import)."""
    hf_home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "huggingface")
    return Path(hf_home).expanduser() / "accelerate" / "default_config.yaml"


def check_accelerate(n_gpus: int) -> Check:
    path = accelerate_config_path()
    if path.is_file():
        return Check("accelerate config", OK, f"configured: {path}")
    if n_gpus > 1:
        return Check(
            "accelerate config", WARN, f"{n_gpus} GPUs but no {path}", "run `accelerate config` to set up multi-GPU training"
        )
    return Check("accelerate config", OK, "not needed on one device")


def check_sqlite() -> Check:
    version = tuple(int(p) for p in sqlite3.sqlite_version.split("."))
    # 3.35 brought RETURNING and DROP COLUMN, which sqlite-utils migrations may use.
    if version < (3, 35):
        return Check("sqlite", WARN, f"SQLite {sqlite3.sqlite_version}", "use a Python built with SQLite >= 3.35")
    return Check("sqlite", OK, f"SQLite {sqlite3.sqlite_version}")


def system_summary(workspace: Workspace | None = None) -> dict:
    """Device, threads and memory for the studio's System panel (numbers in GB, rounded)."""
    import psutil

    ws = workspace or Workspace.resolve()
    gpus = _gpus()
    try:
        import torch

        threads = torch.get_num_threads()
    except ImportError:
        threads = os.cpu_count() or 1
    device = f"cuda x{len(gpus)}: " + ", ".join(n for n, _ in gpus) if gpus else ("mps" if _mps_available() else "cpu")
    return {
        "device": device,
        "threads": threads,
        "cpus": os.cpu_count() or 1,
        "ram_gb": round(psutil.virtual_memory().total / GB, 1),
        "ram_available_gb": round(psutil.virtual_memory().available / GB, 1),
        "gpu_mem_gb": round(sum(mem for _, mem in gpus), 1),
        "free_disk_gb": round(free_disk_gb(ws.root), 1),
    }


def failed(checks: list[Check]) -> bool:
    """True when any check failed (the doctor's exit status is 1 then)."""
    return any(c.status == FAIL for c in checks)
