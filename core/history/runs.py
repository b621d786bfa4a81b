"""What a run row is: the `Status` and `Kind` names (StrEnums, equal to the strings stored in
SQLite and job.json), the `ACTIVE` / `FINAL` status sets, and the frozen `Run` record every reader
of the `runs` table gets. Must not import gradio, torch or transformers.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

RunRef = str | int  # a run's name, or its integer id


class Status(enum.StrEnum):
    """A run's state: `queued` -> `running` -> one of the final four."""

    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"
    FAILED = "failed"
    LOST = "lost"


ACTIVE = frozenset({Status.QUEUED, Status.RUNNING})  # a worker is (or should be) on it
FINAL = frozenset({Status.FINISHED, Status.STOPPED, Status.FAILED, Status.LOST})  # it will not change by itself


class Kind(enum.StrEnum):
    """What a job does (the worker's job kinds, core.jobs.job_kinds)."""

    TRAIN = "train"
    DISTILL = "distill"
    EVAL = "eval"
    TOKENIZE = "tokenize"
    PREPARE = "prepare"
    EXPORT = "export"
    QUICKSTART = "quickstart"
    SUBMISSION = "submission"
    RECIPE = "recipe"


TRAINING = frozenset({Kind.TRAIN, Kind.DISTILL})  # the kinds that make a model (and queue for a slot)


@dataclass(frozen=True)
class Run:
    """One row of `runs`, typed: `config` parsed, `stop_requested` a bool. Build new values with
    `dataclasses.replace`; `to_dict()` is its JSON form (CLI `--json`, REST, the studio API)."""

    name: str
    kind: Kind
    status: Status
    id: int = 0  # 0: not in a database (a compute node's event-log view)
    config: dict[str, Any] = field(default_factory=dict)
    run_dir: str | None = None
    pid: int | None = None
    pid_started: float | None = None
    host: str | None = None
    created: float = 0.0
    started: float | None = None
    ended: float | None = None
    heartbeat: float | None = None
    error: str | None = None
    hint: str | None = None
    parent: str | None = None
    step: int | None = None
    total_steps: int | None = None
    stop_requested: bool = False
    command: str = ""
    backend: str = "local"
    scheduler_job: str | None = None
    scheduler_state: str | None = None
    ingested_seq: int = 0

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Run:
        """A `runs` row (or job.json's fields): config parsed when it is JSON text, unknown keys ignored."""
        optional = {f.name for f in fields(cls) if f.default is None}  # the columns that may be NULL
        values = {k: v for k, v in row.items() if k in _FIELDS and (v is not None or k in optional)}
        if isinstance(values.get("config"), str):
            values["config"] = json.loads(values["config"])
        values["kind"] = Kind(values["kind"])
        values["status"] = Status(values.get("status", Status.QUEUED))
        values["stop_requested"] = bool(values.get("stop_requested"))
        return cls(**values)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE

    @property
    def is_final(self) -> bool:
        return self.status in FINAL

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: the enums as their strings."""
        out = asdict(self)
        out["kind"], out["status"] = str(self.kind), str(self.status)
        return out


_FIELDS = frozenset(f.name for f in fields(Run))
