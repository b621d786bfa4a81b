"""core.train.callbacks.StopOnSignal: a signal before training raises SignalStop, one during
training asks for a stop (checkpoint, `stopped`), a second one ends the process at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from core.train.callbacks import SignalStop, StopOnSignal, TrainControl, TrainState


@pytest.fixture
def restore_handlers():
    saved = {sig: signal.getsignal(sig) for sig in StopOnSignal.SIGNALS}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def test_before_training_a_signal_raises_and_during_training_it_stops(restore_handlers, capfd):
    before = StopOnSignal()
    before.install()
    with pytest.raises(SignalStop, match="SIGTERM"):
        os.kill(os.getpid(), signal.SIGTERM)
        signal.sigtimedwait([], 0.5)  # let the handler run (it runs between bytecodes)
    during = StopOnSignal()
    during.install()
    control = TrainControl()
    during.on_train_begin(TrainState(), control)
    during.on_step_end(TrainState(step=1), control)
    assert not control.should_stop
    os.kill(os.getpid(), signal.SIGINT)
    during.on_step_end(TrainState(step=2), control)
    assert control.should_stop and during.received == signal.SIGINT
    assert "SIGINT: stopping after this step, with a checkpoint" in capfd.readouterr().out


def test_a_second_signal_exits_at_once():
    code = textwrap.dedent("""
        import os, signal, time
        from core.train.callbacks import StopOnSignal, TrainControl, TrainState
        s = StopOnSignal(); s.install(); s.on_train_begin(TrainState(), TrainControl())
        os.kill(os.getpid(), signal.SIGTERM); time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGTERM); time.sleep(0.2)  # within the grace: a forwarded copy
        print("after the copy", flush=True); time.sleep(StopOnSignal.REPEAT_GRACE_S)
        os.kill(os.getpid(), signal.SIGTERM); time.sleep(5)
        print("still here")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 128 + signal.SIGTERM and "still here" not in done.stdout
    assert "after the copy" in done.stdout
    assert "SIGTERM again: exiting now" in done.stdout
