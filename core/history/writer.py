"""`MetricWriter`: one run's metric rows batched into the history from a background thread, so the
training loop never waits on SQLite. Must not import gradio, torch or transformers.
"""
from __future__ import annotations

import os
import threading
import time as _time

from core.history.schema import metric_rows
from core.history.store import History, RunRef


class MetricWriter:
    """Batches one run's metric rows: a row is visible to readers at most `flush_interval` s
    (plus one commit) after `log`, or sooner when `max_batch` rows are waiting.

    A background thread flushes rows that are waiting when logging pauses. A flush that fails
    keeps its rows for the next try and re-raises in the next `log`/`flush`/`close` call, so the
    training loop sees the error instead of it vanishing in the thread. Call `close()` (or use
    `with`): rows still buffered when the process exits without it are lost.
    """

    def __init__(self, history_or_db_path: History | str | os.PathLike, run_name: RunRef,
                 flush_interval: float = 1.0, max_batch: int = 500):
        owns = not isinstance(history_or_db_path, History)
        self.history = History(history_or_db_path) if owns else history_or_db_path
        self._owns_history = owns
        self.run_id = self.history._run_id(run_name)
        self.flush_interval, self.max_batch = flush_interval, max_batch
        self._buffer: list[tuple] = []
        self._lock = threading.Lock()  # guards _buffer, _last_flush, _error
        self._flush_lock = threading.Lock()  # one flush at a time keeps rows in log order
        self._last_flush = _time.monotonic()
        self._error: BaseException | None = None
        self._closed = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._flush_when_due, name="metric-writer", daemon=True)
        self._thread.start()

    def log(self, step: int, values: dict[str, float], tokens: int | None = None,
            words: int | None = None, time: float | None = None) -> None:
        """Buffer one step's metrics; flushes now if the last flush is `flush_interval` old."""
        self._raise_pending()
        rows = metric_rows(self.run_id, step, values, tokens, words, time)
        with self._lock:
            self._buffer.extend(rows)
            due = len(self._buffer) >= self.max_batch or self._since_flush() >= self.flush_interval
        if due:
            self.flush()
        else:
            self._wake.set()  # the thread (re)computes when the buffered rows fall due

    def flush(self) -> None:
        """Write every buffered row in one transaction (INSERT OR REPLACE)."""
        self._write_buffer()
        self._raise_pending()

    def _write_buffer(self) -> None:
        with self._flush_lock:
            with self._lock:
                rows, self._buffer = self._buffer, []
                self._last_flush = _time.monotonic()
            try:
                self.history.write_metric_rows(self.run_id, rows)
            except Exception as exc:
                with self._lock:
                    self._buffer[:0] = rows  # keep them, in order, for the next flush
                    self._error = exc

    def close(self) -> None:
        """Flush what is left, stop the thread, and close the History if this writer opened it."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join()
        try:
            self.flush()
        finally:
            if self._owns_history:
                self.history.close()

    def __enter__(self) -> "MetricWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _since_flush(self) -> float:
        return _time.monotonic() - self._last_flush

    def _raise_pending(self) -> None:
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            raise error

    def _flush_when_due(self) -> None:
        while not self._closed:
            with self._lock:
                wait = self.flush_interval - self._since_flush() if self._buffer else None
            if wait is not None and wait <= 0:
                self._write_buffer()  # an error waits in self._error for the caller's next call
                continue
            self._wake.wait(wait)
            self._wake.clear()
