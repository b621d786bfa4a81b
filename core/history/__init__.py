"""The history: every run, metric, evaluation, sample and artifact of a workspace in one SQLite file
(`studio.db`). `runs` is the `Run` record and its `Status` / `Kind` names, `store` the `History` API
(its metric queries in `metrics`), `migrations` the tables, `schema` the connection settings (WAL,
busy timeout, `BEGIN IMMEDIATE` writers) and SQL, `writer` the batching `MetricWriter`.
Must not import gradio, torch or transformers.
"""

from __future__ import annotations

from core.history.metrics import METRIC_COLUMNS
from core.history.runs import ACTIVE, FINAL, TRAINING, Kind, Run, RunRef, Status
from core.history.store import History, open_history
from core.history.writer import MetricWriter

__all__ = [
    "ACTIVE",
    "FINAL",
    "METRIC_COLUMNS",
    "TRAINING",
    "History",
    "Kind",
    "MetricWriter",
    "Run",
    "RunRef",
    "Status",
    "open_history",
]
