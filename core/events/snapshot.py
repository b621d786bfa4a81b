"""What an eval or export job on a compute node reads of the history: a read-only copy of the run
rows plus the metrics, evals and artifacts of the runs the job names, written by the head into the
job's folder when it submits (`history-snapshot.db`), and opened there without locks (nobody writes
it again). Must not import gradio, studio or torch.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from core.history.store import History

SNAPSHOT_FILE = "history-snapshot.db"
ROW_TABLES = ("metrics", "evals", "artifacts")  # per-run rows copied for the runs a job names
NO_SNAPSHOT_KINDS = ("train", "distill")  # training reads nothing of other runs


def named_runs(history: History, params: dict) -> list[int]:
    """The ids of the runs a job's `model` names: by run name, or as the run folder holding it
    (a run's folder, or one of its checkpoints)."""
    model = str(params.get("model") or "")
    if not model:
        return []
    folder = Path(model).expanduser()
    folders = {str(folder.resolve()), str(folder.resolve().parent)} if folder.is_absolute() or folder.exists() else set()
    return [r.id for r in history.list_runs() if r.name == model or (r.run_dir and r.run_dir in folders)]


def write(history: History, job_dir: Path, job: dict) -> Path | None:
    """Copy the run rows and the named runs' rows into `job_dir/history-snapshot.db` (atomically);
    None for training jobs, which need none."""
    if job.get("kind") in NO_SNAPSHOT_KINDS:
        return None
    target = Path(job_dir) / SNAPSHOT_FILE
    tmp = target.with_name(f".{SNAPSHOT_FILE}.tmp")
    tmp.unlink(missing_ok=True)
    with History(tmp):  # the schema, by the same migrations as studio.db
        pass
    ids = named_runs(history, job.get("params") or {})
    conn = sqlite3.connect(Path(tmp).resolve().as_uri(), uri=True, isolation_level=None)
    try:  # URIs (percent-encoded by as_uri): studio.db is only read
        conn.execute("ATTACH DATABASE ? AS src", (f"{Path(history.db_path).resolve().as_uri()}?mode=ro",))
        conn.execute("BEGIN")
        _copy(conn, "runs", "")
        marks = ", ".join("?" * len(ids))
        for table in ROW_TABLES:
            _copy(conn, table, f" WHERE run_id IN ({marks})" if ids else " WHERE 0", tuple(ids))
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE src")
        conn.execute("PRAGMA journal_mode=DELETE")  # one file: opened read-only and immutable on the node
    finally:
        conn.close()
    os.replace(tmp, target)
    return target


def _copy(conn: sqlite3.Connection, table: str, where: str, params: tuple = ()) -> None:
    columns = ", ".join(row[1] for row in conn.execute(f"PRAGMA main.table_info({table})"))
    conn.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM src.{table}{where}", params)


class Snapshot(History):
    """A History over the job's snapshot, read-only and without locks (`immutable`): its reads
    (`get_run`, `list_runs`, `metric_series`, `last_metrics`, `evals`, ...) work; writes fail."""

    def __init__(self, path: str | os.PathLike):
        self.db_path = Path(path)
        uri = f"{self.db_path.resolve().as_uri()}?mode=ro&immutable=1"
        self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()


def open_for(run_dir: Path) -> Snapshot | None:
    """The snapshot beside a job's event log, or None when the head wrote none."""
    path = Path(run_dir) / SNAPSHOT_FILE
    return Snapshot(path) if path.is_file() else None
