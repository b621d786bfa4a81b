"""The history database's connection settings, its SQL and row encoding (the tables and their
migrations are `core.history.migrations`).

Used by `core.history`; must not import gradio, torch, transformers or sqlite_utils (the studio
polls the database every second and every CLI verb opens it, so opening it stays on the standard
library: sqlite_utils imports pandas and numpy, about 1-3 s). `sqlite-utils studio.db "select ..."`
is the documented way to query the history by hand (docs/guide.md, Workspace).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time as _time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from core.errors import HistoryBusy, UserError
from core.workspace import make_folder

BUSY_TIMEOUT_MS = 10_000


def connect(db_path: str | Path) -> sqlite3.Connection:
    """Open (creating if needed) the database with WAL, a 10 s busy timeout and foreign keys on.

    The connection is in driver autocommit mode (`isolation_level=None`): every transaction is
    explicit (`write_transaction`): the driver never opens or commits one behind our back.
    `check_same_thread=False` lets a History be shared by threads;
    History serialises its own use of the connection with a lock.
    """
    make_folder(Path(db_path).parent, "history database")
    try:
        conn = sqlite3.connect(str(db_path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
    except sqlite3.OperationalError as err:
        raise UserError(
            f"cannot open the history database {db_path} ({err}); check that the workspace folder is writable"
        ) from None
    try:
        # busy_timeout first: switching to WAL needs a lock another process may briefly hold.
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        _enable_wal(conn)
        # NORMAL is durable across application crashes in WAL mode and avoids an fsync per commit.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
    except sqlite3.OperationalError as err:
        conn.close()
        raise unwritable(db_path, err) or err
    return conn


def unwritable(db_path: str | Path, err: sqlite3.OperationalError) -> UserError | None:
    """A UserError naming the database file when `err` says it cannot be written (read-only file
    or folder, full or failing disk); None for any other error, which stays a bug to see."""
    text = str(err).lower()
    if not any(word in text for word in ("readonly", "read-only", "unable to open", "disk i/o", "disk is full")):
        return None
    error = UserError(
        f"the history database {db_path} cannot be written ({err}): make the file and its "
        "folder writable (and the disk not full), or pass --workspace DIR naming another workspace"
    )
    error.path = str(db_path)  # read by core.errors.find_disk_full
    return error


def busy(db_path: str | Path, err: sqlite3.OperationalError) -> HistoryBusy | None:
    """A HistoryBusy naming the database when `err` is SQLite's "database is locked" / "busy"
    after the busy timeout (another process holds the write lock); None for any other error."""
    text = str(err).lower()
    if "locked" not in text and "busy" not in text:
        return None
    return HistoryBusy(
        f"the history database {db_path} is busy: another process has held its write lock "
        f"for more than {BUSY_TIMEOUT_MS / 1000:g} s; nothing was changed, retry in a moment"
    )


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL, retrying while another connection holds the file.

    Changing the journal mode needs the database to itself, and SQLite answers "database is
    locked" at once there, without waiting on the busy timeout: 10 of 300 trials failed when four
    connections opened a fresh file at the same moment (a studio and a worker can do that).
    """
    deadline = _time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=wal")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or _time.monotonic() > deadline:
                raise
            _time.sleep(0.01)


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error.

    IMMEDIATE takes the write lock up front, so two writers queue on the busy timeout instead of
    both starting as readers and one failing with "database is locked" when it upgrades.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


# -- row encoding: how Python values become column values and back ----------------------------
def metric_rows(
    run_id: int,
    step: int,
    values: dict[str, float],
    tokens: int | None = None,
    words: int | None = None,
    time: float | None = None,
) -> list[tuple]:
    """Rows for `metrics`, one per name; float() accepts numpy and 0-d torch scalars.

    NaN is stored as NULL (SQLite has no NaN); infinities are kept.
    """
    when = _time.time() if time is None else time
    return [(run_id, int(step), str(name), float(value), when, tokens, words) for name, value in values.items()]


def run_ref_sql(run: str | int) -> str:
    """SQL for a run's id given its id or name; a name resolves inside the caller's statement,
    so the hot path stays one query."""
    return "?" if isinstance(run, int) else "(SELECT id FROM runs WHERE name = ?)"


def metrics_since_sql(run: str | int) -> str:
    """The UI poll: SEARCH on METRICS_INDEX (run_id=? AND step>?), already in (step, name) order."""
    return (
        f"SELECT step, name, value, time, tokens, words FROM metrics WHERE run_id = {run_ref_sql(run)} "
        "AND step > ? ORDER BY step, name"
    )


INSERT_METRIC_SQL = "INSERT OR REPLACE INTO metrics (run_id, step, name, value, time, tokens, words) VALUES (?, ?, ?, ?, ?, ?, ?)"


def to_json(value: Any) -> str:
    """JSON text for a config/extra column; paths become strings, anything else odd is an error."""
    return json.dumps(value, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"cannot store {type(value).__name__} {value!r} as JSON in the history")


def str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def last_metric_sql(run: str | int) -> str:
    """The latest value of one metric: one SEARCH on METRICS_BY_NAME_INDEX (run_id=? AND name=?)."""
    return (
        f"SELECT value, step, time, tokens, words FROM metrics WHERE run_id = {run_ref_sql(run)} "
        "AND name = ? ORDER BY step DESC LIMIT 1"
    )


def last_metrics_sql(run: str | int) -> str:
    """The latest value of every metric of a run without reading all its rows: a recursive CTE hops
    from one metric name to the next on METRICS_BY_NAME_INDEX (a skip scan SQLite does not do by
    itself here), then one seek per name for its last step. The run is bound as ?1."""
    ref = run_ref_sql(run).replace("?", "?1")
    return f"""
WITH RECURSIVE rid(id) AS (SELECT {ref}),
names(name) AS (
    SELECT (SELECT min(name) FROM metrics WHERE run_id = (SELECT id FROM rid))
    UNION ALL
    SELECT (SELECT min(name) FROM metrics WHERE run_id = (SELECT id FROM rid) AND name > names.name)
    FROM names WHERE names.name IS NOT NULL
)
SELECT names.name AS name,
       (SELECT value FROM metrics WHERE run_id = (SELECT id FROM rid) AND name = names.name
        ORDER BY step DESC LIMIT 1) AS value
FROM names WHERE names.name IS NOT NULL"""


def metric_series_sql(run: str | int, after_step: bool = False) -> str:
    """One metric's (step, value, time, tokens, words) in step order: SEARCH on
    METRICS_BY_NAME_INDEX (run_id=? AND name=? [AND step>?])."""
    after = " AND step > ?" if after_step else ""
    return (
        f"SELECT step, value, time, tokens, words FROM metrics WHERE run_id = {run_ref_sql(run)} "
        f"AND name = ?{after} ORDER BY step"
    )


def last_counts_sql(run: str | int) -> str:
    """Tokens and words at the last step that logged them: SEARCH on METRICS_INDEX (run_id=?)
    walked backwards in step order, stopping at the first row with tokens."""
    return (
        f"SELECT tokens, words FROM metrics WHERE run_id = {run_ref_sql(run)} AND tokens IS NOT NULL ORDER BY step DESC LIMIT 1"
    )


def downsampled_metrics_sql(run: str | int, agg: str, named: bool) -> str:
    """Per metric, the row with the lowest (agg "min") or highest ("max") value in each bucket of
    steps > ? [and name = ?]: SQLite takes the bare columns from the row that holds the min/max.
    Buckets are (step - ?) / ? (integer division). The aggregation runs inside SQLite, so a
    600k-row run reaches Python as a few thousand rows."""
    if agg not in ("min", "max"):
        raise ValueError(f"agg {agg!r} is not min or max")
    name = " AND name = ?" if named else ""
    return (
        f"SELECT name, step, {agg}(value) AS value, time, tokens, words FROM metrics "
        f"WHERE run_id = {run_ref_sql(run)} AND step > ?{name} GROUP BY name, (step - ?) / ?"
    )


def max_step_sql(run: str | int) -> str:
    """A run's last logged step: one seek at the end of METRICS_INDEX."""
    return f"SELECT max(step) AS step FROM metrics WHERE run_id = {run_ref_sql(run)}"
