"""core.train.loggers: every row a checkpoint covers is flushed before that checkpoint is written."""

from __future__ import annotations

from core.train.callbacks import TrainControl, TrainState
from core.train.loggers import LoggerCallback


class Calls:
    def __init__(self):
        self.calls = []

    def log_dict(self, payload, step, *, tokens=None, words=None):
        self.calls.append(("log", step, tuple(payload)))

    def flush(self):
        self.calls.append(("flush",))


def test_evaluations_logged_just_before_a_checkpoint_are_flushed_first():
    sink = Calls()
    cb = LoggerCallback(sink)
    state = TrainState(step=10, max_steps=100)
    cb.on_evaluate(state, TrainControl(), {"pairs_acc": 0.6})  # no checkpoint follows: batched
    assert sink.calls == [("log", 10, ("pairs_acc",))]
    cb.on_evaluate(state, TrainControl(should_save=True), {"eval_loss": 2.0})
    assert sink.calls[1:] == [("log", 10, ("eval_loss",)), ("flush",)]
    cb.on_evaluate(TrainState(step=100, max_steps=100), TrainControl(), {"pairs_acc": 0.7})  # the last step
    assert sink.calls[-1] == ("flush",)
    sink.calls.clear()
    cb.on_evaluate(TrainState(step=10, max_steps=100, is_main=False), TrainControl(should_stop=True), {"x": 1.0})
    assert sink.calls == []  # only the main process writes
