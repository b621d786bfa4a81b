"""The history store: runs, metrics, evals, samples and artifacts in the workspace's SQLite file.

The studio polls it every second and every job process writes to it, so it must not import
gradio, torch or transformers. Schema and connection settings live in `core.history.schema`.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time as _time
from array import array
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.errors import UserError
from core.history.runs import FINAL, Kind, Run, Status
from core.history.schema import (
    INSERT_METRIC_SQL,
    apply_migrations,
    busy,
    connect,
    downsampled_metrics_sql,
    last_counts_sql,
    last_metric_sql,
    last_metrics_sql,
    max_step_sql,
    metric_rows,
    metric_series_sql,
    metrics_since_sql,
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

RunRef = str | int  # a run's name, or its integer id


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


# The columns of `metric_columns`, each an array('d') with NaN for NULL.
METRIC_COLUMNS = ("step", "value", "time", "tokens", "words")


class History:
    """One connection to the history database, with the run/metric API the studio and jobs use.

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

    # -- metrics ----------------------------------------------------------------------------
    def log_metrics(
        self,
        run: RunRef,
        step: int,
        values: dict[str, float],
        tokens: int | None = None,
        words: int | None = None,
        time: float | None = None,
    ) -> None:
        """Write one step's metrics now (one transaction); re-logging a (step, name) replaces it."""
        with self._write():
            run_id = self._run_id(run)
            rows = metric_rows(run_id, step, values, tokens, words, time)
            if rows:
                self._insert_metrics(run_id, rows)

    def _insert_metrics(self, run_id: int, rows: list[tuple]) -> None:
        """Insert rows inside the caller's write transaction; also advance runs.step."""
        self.conn.executemany(INSERT_METRIC_SQL, rows)
        last = max(row[1] for row in rows)
        self.conn.execute("UPDATE runs SET step = max(coalesce(step, ?), ?) WHERE id = ?", (last, last, run_id))

    def write_metric_rows(self, run_id: int, rows: list[tuple], samples: Sequence[tuple] = ()) -> None:
        """Insert rows built by `metric_rows`, and (step, prompt, text, time) samples, in one
        transaction (MetricWriter's flush): all of them or, on any error, none."""
        if rows or samples:
            with self._write() as conn:
                if rows:
                    self._insert_metrics(run_id, rows)
                conn.executemany(
                    "INSERT INTO samples (run_id, step, prompt, text, time) VALUES (?, ?, ?, ?, ?)",
                    [(run_id, *sample) for sample in samples],
                )

    def metrics_since(self, run: RunRef, after_step: int = -1) -> list[dict]:
        """Metric rows with step > after_step, ordered by (step, name): the UI's 1 s poll.

        One statement that searches the (run_id, step, name) index; an unknown run gives [],
        which callers read as "not started yet". Rows are long format: step, name, value, time,
        tokens, words. A metric logged later for a step already returned is not returned again.
        """
        return self._rows(metrics_since_sql(run), (run, after_step))

    def metric_series(self, run: RunRef, name: str) -> list[tuple[int, float]]:
        """(step, value) pairs of one metric, in step order."""
        rows = self._rows(
            f"SELECT step, value FROM metrics WHERE run_id = {run_ref_sql(run)} AND name = ? ORDER BY step",
            (run, name),
        )
        return [(row["step"], row["value"]) for row in rows]

    def last_metrics(self, run: RunRef) -> dict[str, float]:
        """The latest value of every metric the run logged: one seek per metric name on the
        (run_id, name, step) index, however many rows the run has."""
        rows = self._rows(last_metrics_sql(run), (run,))
        return {row["name"]: row["value"] for row in rows}

    def last_metric(self, run: RunRef, name: str) -> float | None:
        """The latest value of one metric (None if never logged): one index seek (`runs list`)."""
        rows = self._rows(last_metric_sql(run), (run, name))
        return rows[0]["value"] if rows else None

    def last_counts(self, run: RunRef) -> tuple[int | None, int | None]:
        """(tokens, words) seen at the run's last step that logged them: a backwards index walk
        from the last step, stopping at the first row that has them."""
        rows = self._rows(last_counts_sql(run), (run,))
        return (rows[0]["tokens"], rows[0]["words"]) if rows else (None, None)

    def metric_columns(
        self, run: RunRef, after_step: int = -1, names: Sequence[str] | None = None, buckets: int | None = None
    ) -> dict[str, dict[str, array]]:
        """Metric rows with step > after_step as columns per metric: {name: {column: array('d')}}
        for METRIC_COLUMNS, each in step order, NULL as NaN; only `names` when given.

        With `buckets`, a span of more steps than that comes downsampled inside SQLite: per metric
        and bucket of steps, the rows of its lowest and highest value, plus the metric's last row.
        Rows reach Python as flat float arrays (40 bytes a row), never as dicts (about 1 KB each
        with their keys): the studio's per-session memory on long runs.
        """
        if buckets:
            last = self._rows(max_step_sql(run), (run,))
            span = (last[0]["step"] - after_step) if last and last[0]["step"] is not None else 0
            if span > buckets:
                return self._downsampled(run, after_step, names, math.ceil(span / buckets))
        named = names is not None
        queries = (
            [(metrics_since_sql(run), (run, after_step))]
            if not named
            else [(metric_series_sql(run, after_step=True), (run, n, after_step)) for n in names]
        )
        out: dict[str, dict[str, array]] = {}
        with self._lock:
            for sql, params in queries:
                cursor = self.conn.execute(sql, params)
                while chunk := cursor.fetchmany(10_000):
                    for row in chunk:
                        _append(out, params[1] if named else row[1], row[0], row[2 - named :])
        return out

    def _downsampled(self, run: RunRef, after_step: int, names: Sequence[str] | None, width: int) -> dict[str, dict[str, array]]:
        picked: dict[tuple[str, int], tuple] = {}
        for name in names if names is not None else [None]:
            given = () if name is None else (name,)
            for agg in ("min", "max"):
                sql = downsampled_metrics_sql(run, agg, name is not None)
                for row in self._rows(sql, (run, after_step, *given, after_step, width)):
                    picked[(row["name"], row["step"])] = row  # a bucket's min may also be its max
        # Each metric's last row too (an index seek each): the dashboard shows the latest values.
        for name in {name for name, _ in picked}:
            row = self._rows(last_metric_sql(run), (run, name))[0]
            picked[(name, row["step"])] = {**row, "name": name}
        out: dict[str, dict[str, array]] = {}
        for (name, step), row in sorted(picked.items()):
            _append(out, name, step, (row["value"], row["time"], row["tokens"], row["words"]))
        return out

    def truncate_after(self, run: RunRef, step: int) -> None:
        """Delete metrics, samples and evals logged after `step` (resume from a checkpoint)."""
        with self._write() as conn:
            run_id = self._run_id(run)
            for table in ("metrics", "samples", "evals"):
                conn.execute(f"DELETE FROM {table} WHERE run_id = ? AND step > ?", (run_id, step))
            conn.execute("UPDATE runs SET step = ? WHERE id = ? AND step > ?", (step, run_id, step))

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


def _append(out: dict[str, dict[str, array]], name: str, step: int, rest: Sequence) -> None:
    """One row onto its metric's columns (value, time, tokens, words in `rest`; None as NaN)."""
    cols = out.get(name) or out.setdefault(name, {c: array("d") for c in METRIC_COLUMNS})
    cols["step"].append(step)
    for column, value in zip(METRIC_COLUMNS[1:], rest):
        cols[column].append(_NAN if value is None else value)


_NAN = float("nan")


def open_history(workspace: Workspace) -> History:
    """The History of a workspace (`<root>/studio.db`)."""
    return History(workspace.db_path)
