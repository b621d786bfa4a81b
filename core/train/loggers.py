"""Metric sinks behind one small interface, and the callback that feeds them.

`MetricLogger` is the protocol (log_dict, log_config, close); `SQLiteMetricLogger` writes the
run's history rows for the studio. W&B and TensorBoard sinks plug in the same way.
Must not import gradio or torch.
"""

from __future__ import annotations

from typing import Mapping, Protocol

from core.errors import HistoryBusy
from core.history import History, MetricWriter
from core.liveness import retry_busy
from core.train.callbacks import Callback, TrainControl, TrainState


class MetricLogger(Protocol):
    """Where a run's numbers go."""

    def log_dict(self, payload: Mapping[str, float], step: int, *, tokens: int | None = None, words: int | None = None) -> None:
        """Record metrics of one step (tokens/words seen so far make the other x-axes)."""

    def log_config(self, config: dict) -> None:
        """Record the resolved config once, at the start."""

    def log_samples(self, samples: list[tuple[str, str]], step: int) -> None:
        """Record generated (prompt, continuation) pairs."""

    def flush(self) -> None:
        """Make everything logged so far durable (called before each checkpoint is written)."""

    def close(self) -> None:
        """Flush and release; called once at the end, also after a failure."""


class SQLiteMetricLogger:
    """The run's history rows through a `MetricWriter` on its own connection: the loop never
    waits on SQLite, and a locked database delays metrics and samples, it never loses them."""

    def __init__(self, history: History, run: str, flush_interval: float = 1.0, close_patience: float = 600.0):
        self.history, self.run, self.close_patience = history, run, close_patience
        # Its own connection to studio.db; an EventHistory (`core.events`) is shared instead: one
        # event log per process keeps the seq in order across the writer's and heartbeat's threads.
        target = history.db_path if isinstance(history, History) else history
        self.writer = MetricWriter(target, run, flush_interval=flush_interval)

    def log_dict(self, payload, step, *, tokens=None, words=None) -> None:
        self.writer.log(step, dict(payload), tokens=tokens, words=words)

    def log_config(self, config: dict) -> None:
        retry_busy(lambda: self.history.record_config(self.run, config), "the run's config")

    def log_samples(self, samples, step) -> None:
        for prompt, text in samples:
            self.writer.log_sample(step, prompt, text)

    def flush(self) -> None:
        self.writer.flush()  # while the database is locked: at once, the rows stay buffered

    def close(self) -> None:
        if not self.writer.close(patience=self.close_patience):
            raise HistoryBusy(
                f"the history database {self.history.db_path} stayed locked for "
                f"{self.close_patience:.0f} s: {self.writer.pending} metric rows and samples of "
                f"run {self.run!r} were not written"
            )


class LoggerCallback(Callback):
    """Sends training logs, evaluations and samples to every MetricLogger (main process only).

    The loggers' owner (the worker) closes them, also when training fails.
    """

    def __init__(self, *loggers: MetricLogger):
        self.loggers = loggers

    def _log(self, state: TrainState, values: Mapping[str, float]) -> None:
        if state.is_main:
            for logger in self.loggers:
                logger.log_dict(values, state.step, tokens=state.tokens_seen, words=state.words_seen)

    def on_log(self, state: TrainState, control: TrainControl, logs: Mapping[str, float]) -> None:
        self._log(state, logs)

    def _flush_before_checkpoint(self, state: TrainState, control: TrainControl) -> None:
        # A checkpoint follows: its metric rows must be on disk first, or a crash right after
        # would resume past rows that were never written (the resumed run does not redo them).
        # While the database is locked the flush returns at once and the rows stay buffered:
        # delayed, written once the lock goes (only a kill -9 meanwhile would lose them).
        if state.is_main and (control.should_save or control.should_stop or state.step >= state.max_steps):
            for logger in self.loggers:
                logger.flush()

    def on_step_end(self, state: TrainState, control: TrainControl) -> None:
        self._flush_before_checkpoint(state, control)

    def on_evaluate(self, state: TrainState, control: TrainControl, metrics: Mapping[str, float]) -> None:
        # Evaluations (eval loss, minimal pairs) come after on_step_end and before the checkpoint.
        self._log(state, metrics)
        self._flush_before_checkpoint(state, control)

    def on_samples(self, state: TrainState, control: TrainControl, samples: list[tuple[str, str]]) -> None:
        if state.is_main:
            for logger in self.loggers:
                logger.log_samples(samples, state.step)
