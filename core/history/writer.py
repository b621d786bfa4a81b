"""`MetricWriter`: one run's metric rows and samples batched into the history from a background
thread, so the training loop never waits on SQLite, and a locked database delays rows instead of
losing them. Must not import gradio, torch or transformers.
"""

from __future__ import annotations

import os
import threading
import time as _time

from core.errors import HistoryBusy
from core.history.runs import RunRef
from core.history.schema import metric_rows
from core.history.store import History

RETRY_MAX_S = 8.0  # the longest pause between two tries while the database stays locked
FLUSH_WAIT_S = 2.0  # the longest `flush` waits for the thread's write (the lock's own wait is 10 s)


class MetricWriter:
    """Batches one run's metric rows and samples: a row is visible to readers at most
    `flush_interval` s (plus one commit) after `log`, or sooner when `max_batch` rows are waiting.

    Only the writer's thread writes (and `close`, after it): `log` buffers and returns, and `flush`
    waits for the thread's write for at most `FLUSH_WAIT_S`. While the database is locked by
    another process (`HistoryBusy`) the rows stay buffered, in order, and the thread retries with
    backoff for as long as the writer lives: nothing is dropped, and since metrics are unique per
    (run, step, name) a retried row replaces, never doubles (`delayed_since` says since when).
    Any other failure keeps its rows too and re-raises in the next `log`/`flush`/`close` call, so
    the training loop sees the error instead of it vanishing in the thread. Call `close()` (or use
    `with`): rows still buffered when the process exits without it are lost.
    """

    def __init__(
        self, history_or_db_path: History | str | os.PathLike, run_name: RunRef, flush_interval: float = 1.0, max_batch: int = 500
    ):
        owns = isinstance(history_or_db_path, (str, os.PathLike))  # else a History or an EventHistory
        self.history = History(history_or_db_path) if owns else history_or_db_path
        self._owns_history = owns
        self.run_id = self.history._run_id(run_name)
        self.flush_interval, self.max_batch = flush_interval, max_batch
        self._buffer: list[tuple] = []
        self._samples: list[tuple] = []  # (step, prompt, text, time)
        self._in_flight = 0  # rows and samples of the write under way
        # _lock guards every field below and the buffers; _written is notified after each write try.
        self._lock = threading.Lock()
        self._written = threading.Condition(self._lock)
        self._flush_lock = threading.Lock()  # one write at a time keeps rows in log order
        self._last_flush = _time.monotonic()
        self._flush_now = False
        self._error: BaseException | None = None
        self.delayed_since: float | None = None  # wall time of the first try the lock refused
        self._retry_wait, self._retry_at = 0.5, 0.0
        self._closed = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._flush_when_due, name="metric-writer", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Rows and samples not yet written (buffered or in the write under way)."""
        with self._lock:
            return self._pending()

    def _pending(self) -> int:
        return len(self._buffer) + len(self._samples) + self._in_flight

    def log(
        self, step: int, values: dict[str, float], tokens: int | None = None, words: int | None = None, time: float | None = None
    ) -> None:
        """Buffer one step's metrics; the thread writes them when due (a full batch at once)."""
        self._raise_pending()
        rows = metric_rows(self.run_id, step, values, tokens, words, time)
        with self._lock:
            self._buffer.extend(rows)
        self._wake.set()

    def log_sample(self, step: int | None, prompt: str, text: str) -> None:
        """Buffer one generated sample (written with the next write)."""
        self._raise_pending()
        with self._lock:
            self._samples.append((step, prompt, text, _time.time()))
        self._wake.set()

    def flush(self, wait: float = FLUSH_WAIT_S) -> bool:
        """Have the thread write every buffered row now and wait up to `wait` s for it; returns
        whether all are written. While the database is locked it returns False at once (the
        thread keeps retrying): the caller never waits on the lock."""
        self._raise_pending()
        with self._lock:
            if self.delayed_since is None and self._pending():
                self._flush_now = True
                self._wake.set()
                self._written.wait_for(
                    lambda: not self._pending() or self.delayed_since is not None or self._error is not None, timeout=wait
                )
        self._raise_pending()
        return self.pending == 0

    def _write_buffer(self) -> None:
        with self._flush_lock:
            with self._lock:
                rows, self._buffer = self._buffer, []
                samples, self._samples = self._samples, []
                self._in_flight, self._flush_now = len(rows) + len(samples), False
                self._last_flush = _time.monotonic()
            error = None
            try:
                self.history.write_metric_rows(self.run_id, rows, samples)
            except Exception as exc:  # noqa: BLE001 - kept below: the rows, and the error for the caller
                error = exc
            with self._lock:
                self._in_flight = 0
                if error is None:
                    self.delayed_since, self._retry_wait = None, 0.5
                else:
                    self._buffer[:0] = rows  # keep them, in order, for the next try
                    self._samples[:0] = samples
                    if isinstance(error, HistoryBusy):
                        self.delayed_since = self.delayed_since or _time.time()
                        self._retry_at = _time.monotonic() + self._backoff()
                    else:
                        self._error = error
                self._written.notify_all()

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
            self._wake.clear()  # before reading the state: a log() after the read wakes the wait below
            with self._lock:
                now = _time.monotonic()
                if not (self._buffer or self._samples):
                    wait = None  # sleep until `log` wakes us
                elif self.delayed_since is not None:
                    wait = self._retry_at - now  # a locked database: try again later, a bit later each time
                elif self._flush_now or len(self._buffer) >= self.max_batch:
                    wait = 0.0
                else:
                    wait = self.flush_interval - (now - self._last_flush)
            if wait is not None and wait <= 0:
                self._write_buffer()  # each try itself waits up to the busy timeout for the lock
            else:
                self._wake.wait(wait)
