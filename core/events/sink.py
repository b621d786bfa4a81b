"""`EventHistory`: what a worker writes to its history, appended to the run's event log instead
of `studio.db` (for runs whose job.json says `"history": "events"`: compute nodes must not write
SQLite over a network filesystem). Reads of other runs (an eval or export job's) come from the
job's read-only `core.events.snapshot`, imported lazily. Must not import gradio, studio, torch or sqlite3.
"""

from __future__ import annotations

import json
import os
import threading
import time as _time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.events.log import EventLog, parse
from core.history.runs import Run, RunRef
from core.history.store import status_fields

JOB_FILE = "job.json"  # = core.jobs.JOB_FILE / STOP_FILE (core.jobs imports this package lazily)
STOP_FILE = "STOP"
HISTORY_KEY = "history"  # job.json key: "sqlite" (default) or "events"
_ROW_FIELDS = (
    "pid",
    "pid_started",
    "host",
    "started",
    "ended",
    "heartbeat",
    "error",
    "hint",
    "step",
    "total_steps",
    "config",
    "parent",
    "command",
    "run_dir",
    "stop_requested",
)


def uses_events(job: dict) -> bool:
    """Whether a job (job.json as a dict) writes its history as events."""
    return job.get(HISTORY_KEY, "sqlite") == "events"


class EventHistory:
    """The part of `core.history.History` that a worker, its heartbeat, `MetricWriter` and the
    training loggers call, each write appended as one event (`core.events.log`). Reads are
    answered locally: `stop_requested` from the run folder's STOP file (`jobs.stop` writes it
    first), `get_run` from job.json and the statuses this log holds. One instance per process,
    shared by its threads (the heartbeat's and the writer's), so seq stays in order."""

    def __init__(self, run_dir: str | os.PathLike, job: dict | None = None):
        self.run_dir = Path(run_dir)
        self.job = job if job is not None else json.loads((self.run_dir / JOB_FILE).read_text(encoding="utf-8"))
        self.name = self.job["name"]
        self.log = EventLog(self.run_dir)
        self.db_path = self.log.path  # named in messages where History names its database
        self._lock = threading.Lock()
        self._row = self._replay()
        self._reads: Any = False  # the job's snapshot of other runs, opened at the first read (None: none)

    def _replay(self) -> dict:
        """The run row as this log leaves it (a resumed run's first start time, its last step)."""
        row: dict[str, Any] = {
            "id": 0,
            "name": self.name,
            "kind": self.job.get("kind"),
            "status": "queued",
            "run_dir": str(self.run_dir),
            "config": {},
            "stop_requested": False,
            **{key: None for key in _ROW_FIELDS if key not in ("config", "run_dir", "stop_requested")},
        }
        try:
            data = self.log.path.read_bytes()
        except FileNotFoundError:
            return row
        for event in parse(data, after_seq=0).events:
            _fold(row, event.type, event.payload, event.time)
        return row

    def _append(self, type: str, **payload: Any) -> None:
        with self._lock:
            event = self.log.append(type, **payload)
            _fold(self._row, type, payload, event.time)

    def close(self) -> None:
        """Nothing to release: every append opens and closes the file (shared by threads)."""

    def __enter__(self) -> "EventHistory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self, run: RunRef) -> None:
        if run not in (self.name, 0):
            raise ValueError(f"this event log belongs to run {self.name!r}, not {run!r}")

    # -- reads, answered locally -------------------------------------------------------------
    def _run_id(self, run: RunRef) -> int:
        """0: rows carry no database id here; the ingester puts the real one in."""
        self._check(run)
        return 0

    def get_run(self, name: RunRef) -> Run | None:
        """The run as this machine knows it: job.json and the last status written here; another
        run as the job's snapshot holds it (None without one)."""
        if name not in (self.name, 0):
            return self._other("get_run", name, empty=None)
        with self._lock:
            return Run.from_row({**self._row, "stop_requested": self.stop_requested(name)})

    def stop_requested(self, name: RunRef) -> bool:
        """Whether `runs stop` left the STOP file in the run folder."""
        return (self.run_dir / STOP_FILE).exists()

    def list_runs(self, kind: str | None = None, status: str | None = None) -> list[Run]:
        """The runs of the job's snapshot (none for training: the scheduler queues runs of a cluster)."""
        reads = self._snapshot()
        return reads.list_runs(kind, status) if reads else []

    # -- reads of other runs (an eval or export job's), from the head's snapshot ----------------
    def _snapshot(self):
        if self._reads is False:
            from core.events.snapshot import open_for

            self._reads = open_for(self.run_dir)
        return self._reads

    def _other(self, method: str, run: RunRef, *args: Any, empty: Any) -> Any:
        reads = self._snapshot()
        return getattr(reads, method)(run, *args) if reads else empty

    def metric_series(self, run: RunRef, name: str) -> list[tuple[int, float]]:
        return self._other("metric_series", run, name, empty=[])

    def last_metrics(self, run: RunRef) -> dict[str, float]:
        return self._other("last_metrics", run, empty={})

    def evals(self, run: RunRef, suite: str | None = None) -> list[dict]:
        return self._other("evals", run, suite, empty=[])

    def artifacts(self, run: RunRef, kind: str | None = None) -> list[dict]:
        return self._other("artifacts", run, kind, empty=[])

    def free_name(self, base: str) -> str:
        reads = self._snapshot()
        return reads.free_name(base) if reads else base

    # -- writes, appended as events ------------------------------------------------------------
    def set_status(self, name: RunRef, status: str, *, only_from: tuple[str, ...] | None = None, **fields: Any) -> bool:
        """Append a `status` event; `started`/`ended` default to now as History.set_status does.
        Returns True: the change is recorded (the ingester applies `only_from` in order)."""
        self._check(name)
        fields = status_fields(status, fields, frozenset(_ROW_FIELDS))
        self._append("status", status=status, only_from=list(only_from) if only_from else None, fields=fields)
        return True

    def heartbeat(self, name: RunRef, step: int | None = None, total_steps: int | None = None) -> None:
        """A `heartbeat` event: the row's beat becomes this event's time when ingested."""
        self._check(name)
        self._append("heartbeat", step=step, total_steps=total_steps)

    def update_progress(self, name: RunRef, step: int, total_steps: int | None = None) -> None:
        self._check(name)
        self._append("progress", step=int(step), total_steps=total_steps)

    def record_config(self, name: RunRef, config: dict) -> None:
        self._check(name)
        self._append("config", config=config)

    def add_artifact(self, run: RunRef, kind: str, path: str | os.PathLike, extra: dict | None = None) -> None:
        """An `artifact` event; for another run (the model an eval or export job read), it names that run."""
        self._append("artifact", kind=kind, path=str(path), extra=extra or {}, **self._target(run))

    def log_eval(
        self, run: RunRef, step: int | None, suite: str, name: str, value: float | None, extra: dict | None = None
    ) -> None:
        value = None if value is None else float(value)
        self._append("eval", step=step, suite=suite, name=name, value=value, extra=extra or {}, **self._target(run))

    def _target(self, run: RunRef) -> dict:
        """{} for this log's run; {"run": NAME} for another (the ingester applies it to that run)."""
        if run in (self.name, 0):
            return {}
        row = self.get_run(run) if isinstance(run, int) else None
        return {"run": row.name if row else run}

    def log_sample(self, run: RunRef, step: int | None, prompt: str, text: str) -> None:
        self._check(run)
        self._append("sample", step=step, prompt=prompt, text=text, at=_time.time())

    def log_metrics(
        self,
        run: RunRef,
        step: int,
        values: dict[str, float],
        tokens: int | None = None,
        words: int | None = None,
        time: float | None = None,
    ) -> None:
        from core.history.schema import metric_rows

        self.write_metric_rows(self._run_id(run), metric_rows(0, step, values, tokens, words, time))

    def write_metric_rows(self, run_id: int, rows: list[tuple], samples: Sequence[tuple] = ()) -> None:
        """MetricWriter's flush: the rows as one `metrics` event and each sample as a `sample`
        event, in one write and one fsync (all of them or, on an error, none)."""
        records: list[tuple[str, dict]] = []
        if rows:
            records.append(("metrics", {"rows": [list(row[1:]) for row in rows]}))
        records += [("sample", {"step": s[0], "prompt": s[1], "text": s[2], "at": s[3]}) for s in samples]
        with self._lock:
            for event in self.log.append_many(records):
                _fold(self._row, event.type, event.payload, event.time)

    def truncate_after(self, run: RunRef, step: int) -> None:
        """A resume clears rows after its checkpoint: a `truncate` event, applied in order."""
        self._check(run)
        self._append("truncate", step=int(step))


def _fold(row: dict, type: str, payload: dict, when: float) -> None:
    """What one event changes in the run row this process keeps (for `get_run`)."""
    if type == "status":
        row.update(payload.get("fields") or {}, status=payload["status"])
    elif type in ("heartbeat", "progress"):
        row.update({k: payload[k] for k in ("step", "total_steps") if payload.get(k) is not None})
        if type == "heartbeat":
            row["heartbeat"] = when
    elif type == "config":
        row["config"] = payload["config"]
    elif type == "metrics" and payload["rows"]:
        row["step"] = max(row.get("step") or 0, max(r[0] for r in payload["rows"]))
    elif type == "truncate" and (row.get("step") or 0) > payload["step"]:
        row["step"] = payload["step"]
