"""`MetricWriter`: one run's metric rows and samples batched into the history from a background
thread, so the training loop never waits on SQLite, and a locked database delays rows instead of
losing them. Must not import gradio, torch or transformers.
"""
from __future__ import annotations

import os
import threading
import time as _time

from core.errors import HistoryBusy
from core.history.schema import metric_rows
from core.history.store import History, RunRef

RETRY_MAX_S = 8.0  # the longest pause between two tries while the database stays locked


class MetricWriter:
    """Batches one run's metric rows and samples: a row is visible to readers at most
    `flush_interval` s (plus one commit) after `log`, or sooner when `max_batch` rows are waiting.

    A background thread flushes rows that are waiting when logging pauses. While the database is
    locked by another process (`HistoryBusy`) the rows stay buffered, in order, and the thread
    retries with backoff for as long as the writer lives: nothing is dropped, and since metrics
    are unique per (run, step, name) a retried row replaces, never doubles. Once delayed, `log`
    and `flush` never block on the lock (`delayed_since` says since when). Any other failure keeps
    its rows too and re-raises in the next `log`/`flush`/`close` call, so the training loop sees
    the error instead of it vanishing in the thread. Call `close()` (or use `with`): rows still
    buffered when the process exits without it are lost.
    """

    def __init__(self, history_or_db_path: History | str | os.PathLike, run_name: RunRef,
                 flush_interval: float = 1.0, max_batch: int = 500):
        owns = not isinstance(history_or_db_path, History)
        self.history = History(history_or_db_path) if owns else history_or_db_path
        self._owns_history = owns
        self.run_id = self.history._run_id(run_name)
        self.flush_interval, self.max_batch = flush_interval, max_batch
        self._buffer: list[tuple] = []
        self._samples: list[tuple] = []  # (step, prompt, text, time)
        self._lock = threading.Lock()  # guards _buffer, _samples, _last_flush, _error, delayed_since
        self._flush_lock = threading.Lock()  # one flush at a time keeps rows in log order
        self._last_flush = _time.monotonic()
        self._error: BaseException | None = None
        self.delayed_since: float | None = None  # wall time of the first try the lock refused
        self._retry_wait = 0.5
        self._closed = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._flush_when_due, name="metric-writer", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Rows and samples buffered, not yet written."""
        with self._lock:
            return len(self._buffer) + len(self._samples)

    def log(self, step: int, values: dict[str, float], tokens: int | None = None,
            words: int | None = None, time: float | None = None) -> None:
        """Buffer one step's metrics; flushes now if the last flush is `flush_interval` old."""
        self._raise_pending()
        rows = metric_rows(self.run_id, step, values, tokens, words, time)
        with self._lock:
            self._buffer.extend(rows)
            due = len(self._buffer) >= self.max_batch or self._since_flush() >= self.flush_interval
            due = due and self.delayed_since is None  # while locked, only the thread tries
        if due:
            self.flush()
        else:
            self._wake.set()  # the thread (re)computes when the buffered rows fall due

    def log_sample(self, step: int | None, prompt: str, text: str) -> None:
        """Buffer one generated sample (written with the next flush)."""
        self._raise_pending()
        with self._lock:
            self._samples.append((step, prompt, text, _time.time()))
        self._wake.set()

    def flush(self) -> bool:
        """Write every buffered row in one transaction (INSERT OR REPLACE); returns whether all
        are written. While the database is locked it returns False at once (the thread retries)."""
        if self.delayed_since is None:
            self._write_buffer()
        else:
            self._wake.set()
        self._raise_pending()
        return self.pending == 0

    def _write_buffer(self) -> None:
        with self._flush_lock:
            with self._lock:
                rows, self._buffer = self._buffer, []
                samples, self._samples = self._samples, []
                self._last_flush = _time.monotonic()
            try:
                self.history.write_metric_rows(self.run_id, rows, samples)
            except Exception as exc:
                with self._lock:
                    self._buffer[:0] = rows  # keep them, in order, for the next flush
                    self._samples[:0] = samples
                    if isinstance(exc, HistoryBusy):
                        self.delayed_since = self.delayed_since or _time.time()
                    else:
                        self._error = exc
                return
            with self._lock:
                self.delayed_since, self._retry_wait = None, 0.5

    def close(self, patience: float = 0.0) -> bool:
        """Flush what is left (retrying a locked database for up to `patience` s), stop the
        thread, and close the History if this writer opened it; returns whether all was written."""
        if self._closed:
            return self.pending == 0
        self._closed = True
        self._wake.set()
        self._thread.join()
        deadline = _time.monotonic() + patience
        try:
            while True:
                self._write_buffer()
                self._raise_pending()
                if self.pending == 0 or _time.monotonic() >= deadline:
                    return self.pending == 0
                _time.sleep(min(self._backoff(), max(0.0, deadline - _time.monotonic())))
        finally:
            if self._owns_history:
                self.history.close()

    def __enter__(self) -> "MetricWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _since_flush(self) -> float:
        return _time.monotonic() - self._last_flush

    def _backoff(self) -> float:
        wait, self._retry_wait = self._retry_wait, min(self._retry_wait * 2, RETRY_MAX_S)
        return wait

    def _raise_pending(self) -> None:
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            raise error

    def _flush_when_due(self) -> None:
        while not self._closed:
            with self._lock:
                if not (self._buffer or self._samples):
                    wait = None  # sleep until `log` wakes us
                elif self.delayed_since is not None:
                    wait = self._backoff()  # a locked database: try again later, a bit later each time
                else:
                    wait = self.flush_interval - self._since_flush()
            if wait is not None and wait <= 0:
                self._write_buffer()  # an error waits in self._error for the caller's next call
                continue
            self._wake.wait(wait)
            self._wake.clear()
            if self.delayed_since is not None and not self._closed:
                self._write_buffer()  # each try itself waits up to the busy timeout for the lock
