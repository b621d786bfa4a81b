"""The history: every run, metric, evaluation, sample and artifact of a workspace in one SQLite file
(`studio.db`). `runs` is the `Run` record and its `Status` / `Kind` names, `store` the `History` API,
`schema` the tables, migrations and connection settings (WAL, busy timeout, `BEGIN IMMEDIATE`
writers), `writer` the batching `MetricWriter`.
Must not import gradio, torch or transformers.
"""

from __future__ import annotations

from core.history.runs import ACTIVE, FINAL, TRAINING, Kind, Run, Status
from core.history.store import METRIC_COLUMNS, History, RunRef, open_history
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
