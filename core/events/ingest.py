"""The ingester: applies a run's new events (`core.events.log`) to `studio.db` exactly once, in
order, each batch and the run row's new `ingested_seq` in ONE write transaction. Called by
`core.jobs.refresh` / `refresh_all` (so by every studio poll and `runs list/show/logs`). Must not
import gradio, studio or torch.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from core.events.log import EVENTS_FILE, Event, read_events
from core.events.sink import _ROW_FIELDS, JOB_FILE, uses_events
from core.history import FINAL, History, Run
from core.history.schema import INSERT_METRIC_SQL, to_json
from core.workspace import Workspace


@dataclass(frozen=True)
class _Seen:
    """What this process last saw of one log: its size and mtime, the run's ingested seq then,
    and where in the file the next line starts (so a poll reads only what is new)."""

    size: int
    mtime_ns: int
    seq: int
    offset: int
    offset_seq: int


_seen: dict[tuple[str, str], _Seen] = {}
_jobs: dict[str, tuple[int, bool]] = {}  # job.json path -> (mtime_ns, says events)
_lock = threading.Lock()


def ingest_run(history: History, run_name: str | int) -> int:
    """Apply the events of a run whose job.json says `"history": "events"` after its row's
    `ingested_seq`; returns how many were applied. Cheap when nothing changed: a stat of job.json
    and of the log, compared with what this process saw last."""
    run = history.get_run(run_name)
    if run is None or not run.run_dir or not _says_events(Path(run.run_dir)):
        return 0  # a run that writes studio.db itself: a stray log beside it is not its history
    return _ingest_row(history, run)


def _ingest_row(history: History, run: Run) -> int:
    if not run.run_dir:
        return 0
    path = Path(run.run_dir) / EVENTS_FILE
    try:
        st = path.stat()
    except FileNotFoundError:
        return 0
    key, done = (str(history.db_path), str(path)), run.ingested_seq or 0
    with _lock:
        seen = _seen.get(key)
    if seen and (seen.size, seen.mtime_ns, seen.seq) == (st.st_size, st.st_mtime_ns, done):
        return 0
    hint = (seen.offset, seen.offset_seq) if seen and seen.offset_seq <= done else (0, 0)
    read = read_events(path, done, *hint)
    applied, seq = _apply(history, run.id, read.events) if read.events else (0, done)
    with _lock:
        _seen[key] = _Seen(st.st_size, st.st_mtime_ns, seq, read.offset, read.last_seq)
    return applied


def ingest_all(history: History, workspace: Workspace | None = None) -> int:
    """Ingest every run that is not final (or was marked `lost` while its events waited) and
    whose job.json says `"history": "events"`; returns the events applied."""
    root = workspace.root if workspace is not None else history.db_path.parent
    applied = 0
    for run in history.list_runs():
        if run.status in FINAL and run.status != "lost" or not run.run_dir:
            continue
        run_dir = Path(run.run_dir)
        if _says_events(run_dir if run_dir.is_absolute() else root / run_dir):
            applied += _ingest_row(history, run)  # the row just listed: no second read of it
    return applied


def _says_events(run_dir: Path) -> bool:
    path = run_dir / JOB_FILE
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return False
    with _lock:
        cached = _jobs.get(str(path))
    if cached and cached[0] == mtime:
        return cached[1]
    try:
        events = uses_events(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return False  # being rewritten (jobs writes it atomically, so rarely): the next poll reads it
    with _lock:
        _jobs[str(path)] = (mtime, events)
    return events


def _apply(history: History, run_id: int, events: list[Event]) -> tuple[int, int]:
    """Apply the events that follow the row's ingested_seq, read INSIDE the write transaction (a
    second ingester that committed meanwhile is seen, and its events are skipped), and the new
    seq with them: all or, on any error or crash, none. Returns (applied, seq now)."""
    applied = 0
    with history.transaction() as conn:
        row = conn.execute("SELECT ingested_seq FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            return 0, 0  # deleted meanwhile
        seq, steps = row[0] or 0, None  # steps: the last step of the metrics since runs.step was set
        for event in events:
            if event.seq <= seq:
                continue
            if event.seq != seq + 1:
                break  # a gap: never apply out of order
            if event.type == "metrics" and event.payload["rows"]:
                steps = max(steps or 0, max(r[0] for r in event.payload["rows"]))
            elif steps is not None:  # runs.step as the direct path leaves it, before what may set it
                _advance_step(conn, run_id, steps)
                steps = None
            apply = _APPLY.get(event.type)
            if apply is not None:  # a type a newer writer added: its seq is still taken, in order
                apply(conn, run_id, event)
            seq, applied = event.seq, applied + 1
        if steps is not None:
            _advance_step(conn, run_id, steps)
        conn.execute("UPDATE runs SET ingested_seq = ? WHERE id = ?", (seq, run_id))
    return applied, seq


def _status(conn: sqlite3.Connection, run_id: int, event: Event) -> None:
    fields = {k: v for k, v in (event.payload.get("fields") or {}).items() if k in _ROW_FIELDS}
    if "config" in fields:
        fields["config"] = to_json(fields["config"])
    values = {"status": event.payload["status"], **fields}
    where, params = "id = ?", [run_id]
    if event.payload.get("only_from"):
        where += f" AND status IN ({', '.join('?' * len(event.payload['only_from']))})"
        params += event.payload["only_from"]
    conn.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in values)} WHERE {where}", (*values.values(), *params))


def _progress(conn: sqlite3.Connection, run_id: int, event: Event) -> None:
    beat = event.time if event.type == "heartbeat" else None
    conn.execute(
        "UPDATE runs SET heartbeat = coalesce(?, heartbeat), step = coalesce(?, step), "
        "total_steps = coalesce(?, total_steps) WHERE id = ?",
        (beat, event.payload.get("step"), event.payload.get("total_steps"), run_id),
    )


def _config(conn: sqlite3.Connection, run_id: int, event: Event) -> None:
    conn.execute("UPDATE runs SET config = ? WHERE id = ?", (to_json(event.payload["config"]), run_id))


def _metrics(conn: sqlite3.Connection, run_id: int, event: Event) -> None:
    # runs.step follows in `_advance_step`, once per stretch of metrics events, not per event.
    conn.executemany(INSERT_METRIC_SQL, [(run_id, *row) for row in event.payload["rows"]])


def _advance_step(conn: sqlite3.Connection, run_id: int, last: int) -> None:
    conn.execute("UPDATE runs SET step = max(coalesce(step, ?), ?) WHERE id = ?", (last, last, run_id))


def _sample(conn: sqlite3.Connection, run_id: int, event: Event) -> None:
    p = event.payload
    conn.execute(
        "INSERT INTO samples (run_id, step, prompt, text, time) VALUES (?, ?, ?, ?, ?)",
        (run_id, p["step"], p["prompt"], p["text"], p.get("at", event.time)),
    )


def _target(conn: sqlite3.Connection, run_id: int, event: Event) -> int | None:
    """The run an eval or artifact event belongs to: this log's, or the one it names (an eval job
    recording results on the model's run); None when that run was deleted meanwhile."""
    other = event.payload.get("run")
    if other is None:
        return run_id
    row = conn.execute("SELECT id FROM runs WHERE name = ?", (other,)).fetchone()
    return row[0] if row else None


def _artifact(conn: sqlite3.Connection, run_id: int, event: Event) -> None:
    p, run_id = event.payload, _target(conn, run_id, event)
    if run_id is None:
        return
    conn.execute(
        "INSERT INTO artifacts (run_id, kind, path, time, extra) VALUES (?, ?, ?, ?, ?)",
        (run_id, p["kind"], p["path"], event.time, to_json(p.get("extra") or {})),
    )


def _eval(conn: sqlite3.Connection, run_id: int, event: Event) -> None:
    p, run_id = event.payload, _target(conn, run_id, event)
    if run_id is None:
        return
    conn.execute(
        "INSERT INTO evals (run_id, step, suite, name, value, time, extra) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (run_id, p["step"], p["suite"], p["name"], p["value"], event.time, to_json(p.get("extra") or {})),
    )


def _truncate(conn: sqlite3.Connection, run_id: int, event: Event) -> None:
    step = event.payload["step"]
    for table in ("metrics", "samples", "evals"):
        conn.execute(f"DELETE FROM {table} WHERE run_id = ? AND step > ?", (run_id, step))
    conn.execute("UPDATE runs SET step = ? WHERE id = ? AND step > ?", (step, run_id, step))


_APPLY = {
    "status": _status,
    "heartbeat": _progress,
    "progress": _progress,
    "config": _config,
    "metrics": _metrics,
    "sample": _sample,
    "artifact": _artifact,
    "eval": _eval,
    "truncate": _truncate,
}
