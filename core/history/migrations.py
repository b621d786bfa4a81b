"""The history database's tables: named migrations, each applied once, in order, in its own
`BEGIN IMMEDIATE` transaction (`apply_migrations`, run by every `History` open), and the
names of the metrics indexes the queries of `core.history.schema` rely on.
Must not import gradio, torch, transformers or sqlite_utils.
"""

from __future__ import annotations

import sqlite3
import time as _time
from collections.abc import Callable

from core.history.schema import write_transaction

MIGRATIONS_TABLE = "_migrations"
# The hot-path index: metrics_since() filters on (run_id, step) and orders by (step, name).
METRICS_INDEX = "idx_metrics_run_step_name"
# A second metrics index, by metric name: the latest value of one metric (`runs list`, the
# Compare table) and one metric's series (Compare overlay, model card, sweeps) are then seeks on
# (run_id, name) instead of scans of all the run's rows (600k on a 100k-step run), and with `value`
# in the key they never touch the table. It costs a second B-tree per insert (<= ~10 rows/s per
# run) and, once, a few seconds building it on a workspace of millions of rows.
METRICS_BY_NAME_INDEX = "idx_metrics_run_name_step"

MigrationFn = Callable[[sqlite3.Connection], None]
_MIGRATIONS: list[tuple[str, MigrationFn]] = []


def migration(name: str) -> Callable[[MigrationFn], MigrationFn]:
    """Register a schema migration; migrations run once each, in registration order."""

    def register(fn: MigrationFn) -> MigrationFn:
        if any(existing == name for existing, _ in _MIGRATIONS):
            raise ValueError(f"migration {name!r} is registered twice")
        _MIGRATIONS.append((name, fn))
        return fn

    return register


def migration_names() -> list[str]:
    """Names of all registered migrations, in the order they apply."""
    return [name for name, _ in _MIGRATIONS]


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations recorded in this database, in the order they were applied."""
    rows = conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE} ORDER BY rowid").fetchall()
    return [row[0] for row in rows]


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations, each in its own BEGIN IMMEDIATE transaction; return their names.

    Safe to call from several processes at once: the "already applied?" check runs inside the
    write lock, so a process that waited for another one's migration sees it recorded and skips it.
    """
    conn.execute(f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
    # Fast path without the write lock: the studio opens the database often, mostly up to date.
    if set(applied_migrations(conn)) >= set(migration_names()):
        return []
    applied = []
    for name, fn in _MIGRATIONS:
        with write_transaction(conn):
            done = conn.execute(f"SELECT 1 FROM {MIGRATIONS_TABLE} WHERE name = ?", (name,))
            if done.fetchone():
                continue
            fn(conn)
            conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)", (name, _time.time()))
            applied.append(name)
    return applied


@migration("0001_initial")
def _initial(conn: sqlite3.Connection) -> None:
    # Plain execute() per statement: executescript() would COMMIT the migration's transaction.
    for statement in _INITIAL_SQL.split(";"):
        if statement.strip():
            conn.execute(statement)


# Children point at runs(id) with ON DELETE CASCADE so deleting a run is one statement.
# metrics has ONE index, unique on (run_id, step, name): it is the dedupe constraint that makes
# INSERT OR REPLACE overwrite re-logged rows, and its (run_id, step) prefix serves metrics_since.
# A separate (run_id, step) index would only add a second B-tree to every insert.
_INITIAL_SQL = f"""
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    config TEXT NOT NULL DEFAULT '{{}}',
    run_dir TEXT,
    pid INTEGER,
    host TEXT,
    created REAL NOT NULL,
    started REAL,
    ended REAL,
    heartbeat REAL,
    error TEXT,
    hint TEXT,
    parent TEXT,
    step INTEGER,
    total_steps INTEGER,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    command TEXT NOT NULL DEFAULT ''
);
CREATE INDEX idx_runs_status ON runs(status);
CREATE TABLE metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    time REAL NOT NULL,
    tokens INTEGER,
    words INTEGER
);
CREATE UNIQUE INDEX {METRICS_INDEX} ON metrics(run_id, step, name);
CREATE TABLE evals (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER,
    suite TEXT NOT NULL,
    name TEXT NOT NULL,
    value REAL,
    time REAL NOT NULL,
    extra TEXT NOT NULL DEFAULT '{{}}'
);
CREATE INDEX idx_evals_run_step ON evals(run_id, step);
CREATE TABLE samples (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step INTEGER,
    prompt TEXT NOT NULL,
    text TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE INDEX idx_samples_run_step ON samples(run_id, step);
CREATE TABLE artifacts (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    time REAL NOT NULL,
    extra TEXT NOT NULL DEFAULT '{{}}'
);
CREATE INDEX idx_artifacts_run ON artifacts(run_id, kind);
"""


@migration("0002_sweeps")
def _sweeps(conn: sqlite3.Connection) -> None:
    # A sweep and its trials: each trial is an ordinary run; deleting the run drops its trial row.
    for statement in _SWEEPS_SQL.split(";"):
        if statement.strip():
            conn.execute(statement)


_SWEEPS_SQL = """
CREATE TABLE sweeps (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    metric TEXT NOT NULL,
    mode TEXT NOT NULL,
    spec TEXT NOT NULL DEFAULT '{}',
    sweep_dir TEXT,
    command TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
);
CREATE TABLE sweep_trials (
    sweep_id INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (sweep_id, run_id)
);
CREATE INDEX idx_sweep_trials_run ON sweep_trials(run_id);
"""


@migration("0003_pid_started")
def _pid_started(conn: sqlite3.Connection) -> None:
    # The start time of the process `pid` names (psutil create_time): a pid reused after a reboot
    # or a wrap-around has another start time, so it is not taken for the run's worker.
    conn.execute("ALTER TABLE runs ADD COLUMN pid_started REAL")


@migration("0004_metrics_by_name")
def _metrics_by_name(conn: sqlite3.Connection) -> None:
    conn.execute(f"CREATE INDEX IF NOT EXISTS {METRICS_BY_NAME_INDEX} ON metrics(run_id, name, step, value)")


@migration("0005_run_backend")
def _run_backend(conn: sqlite3.Connection) -> None:
    # Where a run executes (`local` or `slurm:<cluster>`), its scheduler job id and the scheduler's
    # last state as shown (`PENDING (Resources)`): `runs list` and the studio show them.
    for column in ("backend TEXT NOT NULL DEFAULT 'local'", "scheduler_job TEXT", "scheduler_state TEXT"):
        conn.execute(f"ALTER TABLE runs ADD COLUMN {column}")


@migration("0006_ingested_seq")
def _ingested_seq(conn: sqlite3.Connection) -> None:
    # The seq of the last event of a run's events.jsonl applied here (`core.events.ingest`): set in
    # the same transaction as the events, so each is applied exactly once. 0 for other runs.
    conn.execute("ALTER TABLE runs ADD COLUMN ingested_seq INTEGER NOT NULL DEFAULT 0")
