"""How anything observes or steers training: a read-only state plus a small control object.

The loop calls `on_*` hooks with a frozen `TrainState` snapshot; callbacks may only change the
`TrainControl` flags (stop, save, evaluate). Loggers, the stop watcher, the heartbeat and the
console progress bar are all callbacks. Must not import gradio, torch or the history module.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping


@dataclass(frozen=True)
class TrainState:
    """What the loop knows at one moment; callbacks read it, never write it."""

    step: int = 0  # optimizer steps done
    max_steps: int = 0  # optimizer steps planned in total
    epoch: float = 0.0  # passes over the training data, fractional
    tokens_seen: int = 0  # training tokens consumed, all processes together
    words_seen: int = 0  # the same in words of the corpus (tokens x words/token)
    elapsed: float = 0.0  # seconds of training in this process (resume restarts it)
    metrics: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    is_main: bool = True  # rank 0 of a multi-process run


@dataclass
class TrainControl:
    """The only thing callbacks may change; the loop acts on it after each hook."""

    should_stop: bool = False  # checkpoint and end the run as `stopped`
    should_save: bool = False  # write a checkpoint after this step
    should_eval: bool = False  # evaluate on the eval split after this step
    should_finish: bool = False  # checkpoint and end the run as `finished` (a word budget reached)


class Callback:
    """Base class: override the hooks you need; each gets the state and the control."""

    def on_train_begin(self, state: TrainState, control: TrainControl) -> None: ...

    def on_step_end(self, state: TrainState, control: TrainControl) -> None: ...

    def on_log(self, state: TrainState, control: TrainControl, logs: Mapping[str, float]) -> None: ...

    def on_evaluate(self, state: TrainState, control: TrainControl, metrics: Mapping[str, float]) -> None: ...

    def on_samples(self, state: TrainState, control: TrainControl, samples: list[tuple[str, str]]) -> None: ...

    def on_save(self, state: TrainState, control: TrainControl, path: Path) -> None: ...

    def on_train_end(self, state: TrainState, control: TrainControl, status: str) -> None: ...


class CallbackList:
    """Calls every callback's hook in order; the loop holds one of these."""

    def __init__(self, callbacks: list[Callback]):
        self.callbacks = list(callbacks)

    def __getattr__(self, hook: str):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def call(*args, **kwargs) -> None:
            for cb in self.callbacks:
                getattr(cb, hook)(*args, **kwargs)

        return call


class Schedule(Callback):
    """Sets save/evaluate flags every N steps, and both at the last step (the flow of a run)."""

    def __init__(self, eval_steps: int, save_steps: int):
        self.eval_steps, self.save_steps = eval_steps, save_steps

    def on_step_end(self, state: TrainState, control: TrainControl) -> None:
        last = state.step >= state.max_steps
        control.should_eval |= last or bool(self.eval_steps and state.step % self.eval_steps == 0)
        control.should_save |= bool(self.save_steps and state.step % self.save_steps == 0)


class StopFile(Callback):
    """Stops the run when `path` appears (written by `jobs.stop` or the studio's Stop button)."""

    def __init__(self, path: Path, check_every: float = 0.5):
        self.path, self.check_every, self._next = Path(path), check_every, 0.0

    def on_step_end(self, state: TrainState, control: TrainControl) -> None:
        now = time.monotonic()
        if now >= self._next:  # a stat() per step is cheap, but there is no need for it
            self._next = now + self.check_every
            if self.path.exists():
                control.should_stop = True


class SignalStop(BaseException):
    """Raised by `StopOnSignal` when a signal arrives before training began (nothing to save)."""

    def __init__(self, signum: int):
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


class StopOnSignal(Callback):
    """SIGTERM / SIGINT (a scheduler, systemd, Ctrl-C) stop the run as `runs stop` does: the step
    in progress ends, a checkpoint is saved, the run is `stopped`. Before training began the first
    signal raises `SignalStop` instead (nothing to save). A second signal ends the process at once.
    `install()` must run in the main thread."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    REPEAT_GRACE_S = 2.0  # a launcher forwarding the group's signal sends it again at once: not a second one

    def __init__(self):
        self.received: int | None = None
        self.training = False
        self._first = 0.0

    def install(self) -> None:
        for sig in self.SIGNALS:
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self.received is not None:
            if time.monotonic() - self._first < self.REPEAT_GRACE_S:
                return
            # os.write, not print: a handler may interrupt a print in progress.
            os.write(1, f"{name} again: exiting now, without a checkpoint\n".encode())
            os._exit(128 + signum)
        self.received, self._first = signum, time.monotonic()
        if not self.training:
            raise SignalStop(signum)
        os.write(1, f"{name}: stopping after this step, with a checkpoint (send it again to exit at once)\n".encode())

    def on_train_begin(self, state: TrainState, control: TrainControl) -> None:
        self.training = True

    def on_step_end(self, state: TrainState, control: TrainControl) -> None:
        if self.received is not None:
            control.should_stop = True


class StopAfter(Callback):
    """Stops after a fixed number of steps (tests and benchmarks use it to interrupt a run)."""

    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, state: TrainState, control: TrainControl) -> None:
        if state.step >= self.step:
            control.should_stop = True


class WordBudget(Callback):
    """A BabyLM track's budget of words seen: warns once when the run reaches it and, with `stop`,
    ends the run there (checkpoint, `finished`). The same on every process: words seen are."""

    def __init__(self, track: str, budget: int, stop: bool, stream=None):
        self.track, self.budget, self.stop = track, budget, stop
        self.stream, self._warned = stream or sys.stdout, False

    def on_train_begin(self, state: TrainState, control: TrainControl) -> None:
        self._warned = state.words_seen >= self.budget  # a resumed run warned when it got there

    def on_step_end(self, state: TrainState, control: TrainControl) -> None:
        if state.words_seen < self.budget or self._warned:
            return
        self._warned = True
        action = (
            "stopping here (training.stop_at_budget)"
            if self.stop
            else "training goes on; set training.stop_at_budget=true to stop at the budget"
        )
        if state.is_main:
            print(
                f"warning: {state.words_seen:,} words seen at step {state.step} reached the {self.track} "
                f"budget of {self.budget:,} words; {action}",
                file=self.stream,
                flush=True,
            )
        control.should_finish |= self.stop


class ConsoleProgress(Callback):
    """One progress line per logging step: step/total, loss, tokens/s, ETA (goes to run.log)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def on_log(self, state: TrainState, control: TrainControl, logs: Mapping[str, float]) -> None:
        pct = 100.0 * state.step / max(state.max_steps, 1)
        rate = logs.get("tokens_per_s", 0.0)
        eta = format_eta(logs.get("eta_s"))
        print(
            f"step {state.step}/{state.max_steps} ({pct:5.1f}%)  loss {logs.get('loss', float('nan')):.4f}  "
            f"lr {logs.get('lr', 0.0):.2e}  {rate:,.0f} tok/s  ETA {eta}",
            file=self.stream,
            flush=True,
        )

    def on_evaluate(self, state: TrainState, control: TrainControl, metrics: Mapping[str, float]) -> None:
        shown = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        print(f"eval at step {state.step}: {shown}", file=self.stream, flush=True)

    def on_save(self, state: TrainState, control: TrainControl, path: Path) -> None:
        print(f"saved {path}", file=self.stream, flush=True)

    def on_train_end(self, state: TrainState, control: TrainControl, status: str) -> None:
        print(
            f"training {status} at step {state.step}/{state.max_steps} ({state.tokens_seen:,} tokens)",
            file=self.stream,
            flush=True,
        )


def format_eta(seconds: float | None) -> str:
    """Seconds -> '1h02m', '3m05s', '42s'; unknown -> '?'."""
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"
