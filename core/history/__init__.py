"""The history: every run, metric, evaluation, sample and artifact of a workspace in one SQLite file
(`studio.db`). `store` is the `History` API, `schema` the tables, migrations and connection
settings (WAL, busy timeout, `BEGIN IMMEDIATE` writers), `writer` the batching `MetricWriter`.
Must not import gradio, torch or transformers.
"""

from __future__ import annotations

from core.history.store import FINAL_STATUSES, KINDS, METRIC_COLUMNS, STATUSES, History, RunRef, open_history
from core.history.writer import MetricWriter

__all__ = ["FINAL_STATUSES", "KINDS", "METRIC_COLUMNS", "STATUSES", "History", "MetricWriter", "RunRef", "open_history"]
