"""The history store: runs, evals, samples and artifacts in the workspace's SQLite file, and the
metrics through `core.history.metrics`.

The studio polls it every second and every job process writes to it, so it must not import
gradio, torch or transformers. Connection settings and SQL live in `core.history.schema`, the tables in `core.history.migrations`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time as _time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.history.metrics import MetricQueries
from core.history.migrations import apply_migrations
from core.history.runs import FINAL, Kind, Run, RunRef, Status
from core.history.schema import (
    busy,
    connect,
    run_ref_sql,
    str_or_none,
    to_json,
    unwritable,
    write_transaction,
)
from core.workspace import Workspace, check_name

# Columns set_status(**fields) may change; name/kind/created are fixed at creation.
_SETTABLE = frozenset(
    "config run_dir pid pid_started host started ended heartbeat error hint parent step "
    "total_steps stop_requested command backend scheduler_job scheduler_state".split()
)


def status_fields(status: str, fields: dict[str, Any], settable: frozenset[str] = _SETTABLE) -> dict[str, Any]:
    """`fields` of a status change, checked (a known status, only `settable` columns) and stamped:
    `started` defaults to now when the status becomes running, `ended` when it becomes final.
    Shared by History.set_status and the event-log sink (core.events.sink)."""
    if status not in Status.__members__.values():
        raise ValueError(f"status {status!r} is not one of {', '.join(Status)}")
    unknown = set(fields) - settable
    if unknown:
        raise ValueError(f"set_status got unknown run fields {sorted(unknown)}")
    fields, now = dict(fields), _time.time()
    if status == Status.RUNNING:
        fields.setdefault("started", now)
    if status in FINAL:
        fields.setdefault("ended", now)
    return fields


class History(MetricQueries):
    """One connection to the history database, with the run/metric API the studio and jobs use
    (the metric queries are `MetricQueries`, core.history.metrics).

    Threading: the object may be shared by threads (Gradio handlers, a MetricWriter's flush
    thread); every call holds an internal lock around the single connection. Each process opens
    its own History; WAL lets one process write while others read without blocking.
    """

    def __init__(self, db_path: str | os.PathLike):
        self.db_path = Path(db_path)
        self.conn = connect(self.db_path)
        self._lock = threading.RLock()
        with self._lock:
            apply_migrations(self.conn)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.conn.close()

    def __enter__(self) -> "History":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------
    @contextmanager
    def _write(self) -> Iterator[Any]:
        with self._lock:
            try:
                with write_transaction(self.conn) as conn:
                    yield conn
            except sqlite3.OperationalError as err:
                # A read-only or failing database is the user's to fix: name the file. A lock
                # held past the busy timeout is HistoryBusy: nothing changed, a retry may pass.
                raise busy(self.db_path, err) or unwritable(self.db_path, err) or err

    def transaction(self) -> Any:
        """One write transaction (a context manager yielding the connection) for a caller that
        applies several changes as one: `core.events.ingest` (events + the run's ingested_seq)."""
        return self._write()

    def _rows(self, sql: str, params: tuple = ()) -> list[dict]:
        with self._lock:
            cursor = self.conn.execute(sql, params)
            keys = [d[0] for d in cursor.description]
            return [dict(zip(keys, row)) for row in cursor.fetchall()]

    def _run_id(self, run: RunRef) -> int:
        """The id of a run given by name or id; UserError if there is no such run."""
        column = "id" if isinstance(run, int) else "name"
        rows = self._rows(f"SELECT id FROM runs WHERE {column} = ?", (run,))
        if not rows:
            raise UserError(f"no run {run!r} in {self.db_path}: check the name in the runs list")
        return rows[0]["id"]

    # -- runs -------------------------------------------------------------------------------
    def create_run(
        self,
        name: str,
        kind: str,
        config: dict,
        run_dir: str | os.PathLike | None,
        command: str = "",
        parent: str | None = None,
        total_steps: int | None = None,
    ) -> Run:
        """Insert a `queued` run and return it; a taken name raises UserError with a free one."""
        check_name(name, "run name")
        if kind not in Kind.__members__.values():
            raise ValueError(f"run kind {kind!r} is not one of {', '.join(Kind)}")
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE name = ?", (name,)).fetchone():
                raise UserError(
                    f"a run named {name!r} already exists: pick another name, "
                    f"e.g. {self.free_name(name)!r} (History.free_name finds one)"
                )
            conn.execute(
                "INSERT INTO runs (name, kind, status, config, run_dir, command, parent, "
                "total_steps, created) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?)",
                (name, kind, to_json(config), str_or_none(run_dir), command, parent, total_steps, _time.time()),
            )
        return self.get_run(name)

    def free_name(self, base: str) -> str:
        """`base` if no run has it, else the first free one of base-2, base-3, ..."""
        sql = "SELECT name FROM runs WHERE name = ? OR substr(name, 1, ?) = ?"
        taken = {r["name"] for r in self._rows(sql, (base, len(base) + 1, base + "-"))}
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        return candidate

    def get_run(self, name: RunRef) -> Run | None:
        """The run (config parsed back to a dict), or None if there is none."""
        column = "id" if isinstance(name, int) else "name"
        rows = self._rows(f"SELECT * FROM runs WHERE {column} = ?", (name,))
        return Run.from_row(rows[0]) if rows else None

    def list_runs(self, kind: str | None = None, status: str | None = None) -> list[Run]:
        """Runs, newest first, optionally only one kind and/or status."""
        where, params = [], []
        for column, value in (("kind", kind), ("status", status)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self._rows(f"SELECT * FROM runs{clause} ORDER BY created DESC, id DESC", tuple(params))
        return [Run.from_row(row) for row in rows]

    def set_status(self, name: RunRef, status: str, *, only_from: tuple[str, ...] | None = None, **fields: Any) -> bool:
        """Set a run's status and any other run columns; returns whether the row changed.

        `started` defaults to now when the status becomes running, `ended` to now when it
        becomes final; pass them explicitly to override. With `only_from`, the change is one
        conditional UPDATE that applies only while the status is one of those (no read-then-write
        race with another process).
        """
        fields = status_fields(status, fields)
        if "config" in fields:
            fields["config"] = to_json(fields["config"])
        return self._update_run(name, {"status": status, **fields}, only_from=only_from)

    def update_progress(self, name: RunRef, step: int, total_steps: int | None = None) -> None:
        """Record a run's current step (and planned total) without touching its status."""
        values: dict[str, Any] = {"step": step}
        if total_steps is not None:
            values["total_steps"] = total_steps
        self._update_run(name, values)

    def record_config(self, name: RunRef, config: dict) -> None:
        """Replace the run's stored config (with the one actually used, fallbacks applied)."""
        self._update_run(name, {"config": to_json(config)})

    def _update_run(self, run: RunRef, values: dict[str, Any], only_from: tuple[str, ...] | None = None) -> bool:
        assignments = ", ".join(f"{column} = ?" for column in values)
        where, params = "id = ?", ()
        if only_from is not None:
            where += f" AND status IN ({', '.join('?' * len(only_from))})"
            params = tuple(only_from)
        with self._write() as conn:
            run_id = self._run_id(run)
            cursor = conn.execute(f"UPDATE runs SET {assignments} WHERE {where}", (*values.values(), run_id, *params))
            return cursor.rowcount > 0

    def heartbeat(self, name: RunRef, step: int | None = None, total_steps: int | None = None) -> None:
        """Record that the run's process is alive (and, optionally, its current step and total)."""
        values: dict[str, Any] = {"heartbeat": _time.time()}
        if step is not None:
            values["step"] = step
        if total_steps is not None:
            values["total_steps"] = total_steps
        self._update_run(name, values)

    def request_stop(self, name: RunRef) -> None:
        """Ask the run's process to checkpoint and stop (it polls `stop_requested`)."""
        self._update_run(name, {"stop_requested": 1})

    def stop_requested(self, name: RunRef) -> bool:
        """Whether a stop was requested for the run (False for an unknown run)."""
        run = self.get_run(name)
        return bool(run and run.stop_requested)

    def delete_run(self, name: RunRef) -> bool:
        """Delete a run and (by cascade) its metrics, evals, samples, artifacts; False if absent.

        The run's folder on disk is left alone: removing files is the caller's decision.
        """
        column = "id" if isinstance(name, int) else "name"
        with self._write() as conn:
            return conn.execute(f"DELETE FROM runs WHERE {column} = ?", (name,)).rowcount > 0

    def rename_run(self, old: str, new: str, run_dir: str | os.PathLike | None = None) -> None:
        """Rename a run (and children that name it as parent); optionally record its moved folder."""
        check_name(new, "run name")
        with self._write() as conn:
            run_id = self._run_id(old)
            if conn.execute("SELECT 1 FROM runs WHERE name = ?", (new,)).fetchone():
                raise UserError(f"cannot rename {old!r} to {new!r}: that name is taken; {self.free_name(new)!r} is free")
            conn.execute("UPDATE runs SET name = ? WHERE id = ?", (new, run_id))
            conn.execute("UPDATE runs SET parent = ? WHERE parent = ?", (new, old))
            if run_dir is not None:
                conn.execute("UPDATE runs SET run_dir = ? WHERE id = ?", (str(run_dir), run_id))

    # -- samples, evals, artifacts ----------------------------------------------------------
    def log_sample(self, run: RunRef, step: int | None, prompt: str, text: str) -> None:
        """Store one generated sample."""
        self._insert("samples", run, step=step, prompt=prompt, text=text)

    def samples(self, run: RunRef, limit: int = 20) -> list[dict]:
        """The run's latest samples, newest first."""
        return self._rows(
            f"SELECT step, prompt, text, time FROM samples WHERE run_id = {run_ref_sql(run)} "
            "ORDER BY step DESC, rowid DESC LIMIT ?",
            (run, limit),
        )

    def log_eval(
        self, run: RunRef, step: int | None, suite: str, name: str, value: float | None, extra: dict | None = None
    ) -> None:
        """Store one evaluation result (suite e.g. 'blimp', name e.g. a paradigm)."""
        value = None if value is None else float(value)
        self._insert("evals", run, step=step, suite=suite, name=name, value=value, extra=to_json(extra or {}))

    def evals(self, run: RunRef, suite: str | None = None) -> list[dict]:
        """The run's evaluation results (extra parsed), oldest first."""
        return self._extra_rows("evals", "step, suite, name, value, time", run, "suite", suite)

    def add_artifact(self, run: RunRef, kind: str, path: str | os.PathLike, extra: dict | None = None) -> None:
        """Record a file the run produced (checkpoint, report, plot, export)."""
        self._insert("artifacts", run, kind=kind, path=str(path), extra=to_json(extra or {}))

    def artifacts(self, run: RunRef, kind: str | None = None) -> list[dict]:
        """The run's artifacts (extra parsed), oldest first."""
        return self._extra_rows("artifacts", "kind, path, time", run, "kind", kind)

    def _extra_rows(self, table: str, columns: str, run: RunRef, key: str, value: str | None) -> list[dict]:
        sql = f"SELECT {columns}, extra FROM {table} WHERE run_id = {run_ref_sql(run)}"
        params: tuple = (run,) if value is None else (run, value)
        rows = self._rows(sql + ("" if value is None else f" AND {key} = ?") + " ORDER BY rowid", params)
        return [{**row, "extra": json.loads(row["extra"])} for row in rows]

    def _insert(self, table: str, run: RunRef, **values: Any) -> None:
        values["time"] = _time.time()
        columns = ", ".join(["run_id", *values])
        marks = ", ".join("?" * (len(values) + 1))
        with self._write() as conn:
            run_id = self._run_id(run)
            conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", (run_id, *values.values()))


def open_history(workspace: Workspace) -> History:
    """The History of a workspace (`<root>/studio.db`)."""
    return History(workspace.db_path)
