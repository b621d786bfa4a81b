"""A worker's signs of life: the heartbeat thread (a file touched in the run folder, then the run
row's `heartbeat`), retries of history writes while the database is locked, and how readers tell
"alive but cannot write" from "dead". Must not import gradio, torch or the training loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from core.errors import HistoryBusy
from core.history import History, Run

HEARTBEAT_S = 2.0
BEAT_FILE = "heartbeat"  # in the run folder; its mtime is the worker's last sign of life
DELAYED_AFTER_S = 10.0  # a fresh file beat with a row beat older than this: history writes delayed
RETRY_MAX_S = 8.0  # the longest pause between two tries of a locked database
T = TypeVar("T")


def say(line: str) -> None:
    """One line to run.log (the worker's stdout); a full disk must not turn it into a traceback."""
    try:
        print(line, flush=True)
    except OSError:
        pass


def retry_busy(write: Callable[[], T], what: str, patience: float | None = None) -> T:
    """`write()`, tried again with backoff while the history is locked (HistoryBusy), for up to
    `patience` s (None: as long as it takes); says once in run.log that it waits, and when it is done."""
    deadline = None if patience is None else time.monotonic() + patience
    wait, since = 0.5, None
    while True:
        try:
            result = write()
        except HistoryBusy:
            if deadline is not None and time.monotonic() >= deadline:
                raise
            if since is None:
                since = time.monotonic()
                say(f"warning: the history database is locked by another process; {what} waits and retries")
            time.sleep(wait if deadline is None else max(0.0, min(wait, deadline - time.monotonic())))
            wait = min(wait * 2, RETRY_MAX_S)
            continue
        if since is not None:
            say(f"note: {what} written after {time.monotonic() - since:.0f} s of a locked history database")
        return result


class Heartbeat(threading.Thread):
    """Says every few seconds that this process is alive, whatever the loop or the database does:
    it touches `<run_dir>/heartbeat` (never blocked by SQLite locks), then writes the row's
    heartbeat with the latest progress (`report`). A locked or failing database never ends it."""

    def __init__(self, db_path: Path, name: str, run_dir: Path, opener: Callable[[], History] | None = None):
        super().__init__(daemon=True, name="heartbeat")
        self.db_path, self.name, self.beat_file = db_path, name, Path(run_dir) / BEAT_FILE
        self.opener = opener or (lambda: History(self.db_path))  # the worker's EventHistory for events runs
        self.halt = threading.Event()
        self.progress: tuple[int, int | None] | None = None
        self.delayed_since: float | None = None
        self._failing = ""

    def report(self, step: int, total_steps: int | None) -> None:
        """The run's progress, written with the next beat (the loop never waits on the database)."""
        self.progress = (step, total_steps)

    def run(self) -> None:
        # The row beat has its own thread: a locked database holds each write for the busy timeout
        # (10 s), and the file beat must keep its 2 s pace through that to tell "delayed" from "dead".
        rows = threading.Thread(target=self._row_beats, daemon=True, name="heartbeat-row")
        rows.start()
        while True:
            self._touch()
            if self.halt.wait(HEARTBEAT_S):
                break
        rows.join()

    def stop(self, wait: float = 2.0) -> None:
        """End the beats; waits up to `wait` s for a last row beat after a locked spell (so run.log
        says the database became writable again), never longer: the process is about to exit."""
        self.halt.set()
        self.join(timeout=wait)

    def _row_beats(self) -> None:
        history = None
        try:
            while True:
                history = self._beat(history)
                if self.halt.wait(HEARTBEAT_S):
                    if self.delayed_since is not None:
                        history = self._beat(history)  # the final status was written: say it is writable
                    return
        finally:
            if history is not None:
                history.close()

    def _touch(self) -> None:
        try:
            self.beat_file.touch()
        except OSError:
            pass  # a full disk or a moved folder: the row's beat still says we live

    def _beat(self, history: History | None) -> History | None:
        try:
            # Its own connection (none shared across threads); an events run's shared, locked log.
            history = history or self.opener()
            step, total = self.progress or (None, None)
            history.heartbeat(self.name, step=step, total_steps=total)
        except HistoryBusy:
            if self.delayed_since is None:
                self.delayed_since = time.time()
                say(
                    f"warning: the history database {self.db_path} is locked by another process; "
                    "metrics, samples and heartbeats are kept and retried, training goes on"
                )
            return history
        except Exception as err:  # noqa: BLE001 - said in run.log; the next beat tries again
            if str(err) != self._failing:
                self._failing = str(err)
                say(f"warning: heartbeat cannot write the history ({err}); retrying every {HEARTBEAT_S:.0f} s")
            return history
        if self.delayed_since is not None:
            say(f"note: the history database is writable again after {time.time() - self.delayed_since:.0f} s")
        self.delayed_since, self._failing = None, ""
        return history


def file_beat(run: Run) -> float | None:
    """When the run's worker last touched its heartbeat file (None if it never did)."""
    if not run.run_dir:
        return None
    try:
        return (Path(run.run_dir) / BEAT_FILE).stat().st_mtime
    except OSError:
        return None


def last_beat(run: Run) -> float | None:
    """The newest sign of life: the row's heartbeat or the heartbeat file, whichever is later."""
    beats = [b for b in (run.heartbeat, file_beat(run)) if b is not None]
    return max(beats) if beats else None


def writes_delayed(run: Run, now: float | None = None) -> bool:
    """A running worker whose file beat is fresh while its row beat is stale: alive, but its
    history writes wait on a locked database (shown as "running (history writes delayed)")."""
    if run.status != "running":
        return False
    now = time.time() if now is None else now
    beat, touched = run.heartbeat, file_beat(run)
    return touched is not None and now - touched < DELAYED_AFTER_S and (beat is None or now - beat >= DELAYED_AFTER_S)


def status_text(run: Run) -> str:
    """The run's status as people read it: `running (history writes delayed)` when it is."""
    return f"{run.status} (history writes delayed)" if writes_delayed(run) else run.status
