"""core.jobs.worker: when the database cannot be written mid-run, run.log (the worker's stdout) says
what happened and where, instead of the process dying with only an sqlite3 traceback; with real
workers, SIGTERM / SIGINT stop like `runs stop`, a locked database delays rows without losing any,
and a full disk ends the run `failed` naming the path, its last checkpoint intact."""

from __future__ import annotations

import errno
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from core import jobs
from core.history import History
from core.jobs import job_kinds, worker
from core.train import checkpoint as ckpt


def test_unwritable_database_mid_run_is_said_in_the_log(workspace, monkeypatch, capsys):
    run_dir = workspace.root / "jobs" / "ro-mid"
    run_dir.mkdir(parents=True)
    (run_dir / jobs.JOB_FILE).write_text(
        json.dumps({"kind": "export", "name": "ro-mid", "num_processes": 1, "workspace": str(workspace.root), "params": {}})
    )
    with History(workspace.db_path) as h:
        h.create_run("ro-mid", "export", {}, run_dir)

    def job_while_the_db_turns_read_only(job, ws, history, run_dir, is_main):
        history.conn.execute("PRAGMA query_only=1")  # SQLite's read-only mode (root ignores chmod)
        return "finished"

    monkeypatch.setitem(job_kinds.KINDS, "export", job_while_the_db_turns_read_only)
    assert worker.run_job(run_dir) == 1  # before: the OperationalError escaped run_job
    out = capsys.readouterr().out
    assert f"could not record the end of run 'ro-mid' in {workspace.db_path}" in out
    assert "cannot be written" in out and str(run_dir) in out and "babyllama runs resume ro-mid" in out
    with History(workspace.db_path) as h:
        assert h.get_run("ro-mid").status == "running"  # what it was: refresh will make it `lost`


# -- history faults and signals with a real worker (issue 18) -------------------------------------
def _start(ws, history, name, *extra):
    from tests.core.jobs.test_lifecycle import _cfg

    return jobs.start("train", _cfg("training.save_steps=0", *extra), ws, history, name=name)


def _wait_step(history, name, step, timeout=300):
    from tests.core.jobs.test_lifecycle import _wait

    return _wait(history, name, lambda r: r.status == "running" and (r.step or 0) >= step, timeout)


def _loss_steps(history, name):
    rows = [(m["step"], m["name"]) for m in history.metrics_since(name, -1)]
    assert len(rows) == len(set(rows)), "a metric row was written twice"
    return sorted(s for s, n in rows if n == "loss"), rows


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigterm_stops_with_a_checkpoint_and_sigint_after_resume_too(ready_workspace, history):
    from tests.core.jobs.test_lifecycle import _final

    run = _start(ready_workspace, history, "sig", "training.max_steps=5000")
    run = _wait_step(history, "sig", 10)
    os.kill(run.pid, signal.SIGTERM)
    signalled = time.monotonic()
    run = _final(history, "sig", timeout=120)
    took = time.monotonic() - signalled
    assert run.status == "stopped" and "SIGTERM" in run.hint, (run.error, run.hint)
    assert took < 60, f"a SIGTERM took {took:.0f} s to stop"  # documented: <= 30 s on an idle machine
    last = ckpt.list_checkpoints(run.run_dir)[-1]
    assert last.name == f"checkpoint-{run.step}" and ckpt.verify(last) is None
    log = Path(run.run_dir, "run.log").read_text()
    assert "SIGTERM: stopping after this step" in log and "Traceback" not in log
    stopped_at = run.step

    jobs.resume("sig", ready_workspace, history)
    run = _wait_step(history, "sig", stopped_at + 10)
    os.kill(run.pid, signal.SIGINT)
    run = _final(history, "sig", timeout=120)
    assert run.status == "stopped" and "SIGINT" in run.hint and run.step > stopped_at
    assert ckpt.list_checkpoints(run.run_dir)[-1].name == f"checkpoint-{run.step}"
    steps, _ = _loss_steps(history, "sig")
    assert steps == list(range(5, run.step + 1, 5))  # the resumed run continued the same rows


LOCK_S = 35.0  # longer than the ~30 s after which the old heartbeat gave up and the run died


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_database_locked_for_35_s_delays_rows_and_loses_none(ready_workspace, history):
    from core.liveness import writes_delayed
    from tests.core.jobs.test_lifecycle import _final

    run = _start(ready_workspace, history, "locked", "training.max_steps=5000")
    run = _wait_step(history, "locked", 5)
    log_path = Path(run.run_dir, "run.log")
    lock = sqlite3.connect(ready_workspace.db_path, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")  # a second connection holding the write lock
    try:
        locked_at, printed_before = time.monotonic(), _last_printed_step(log_path)
        while time.monotonic() - locked_at < LOCK_S:
            row = history.get_run("locked")  # WAL: readers still read
            assert jobs.is_alive(row), "a live worker behind a locked database was judged dead"
            time.sleep(1.0)
        row = history.get_run("locked")
        assert row.status == "running" and time.time() - row.heartbeat > LOCK_S - 5
        assert writes_delayed(row) and jobs.refresh(history, "locked").status == "running"
        printed_during = _last_printed_step(log_path)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    assert printed_during > printed_before, "training did not go on while the database was locked"
    run = _wait_step(history, "locked", printed_during + 5, timeout=120)  # the buffered rows landed
    assert jobs.stop("locked", history) == "requested"
    run = _final(history, "locked", timeout=120)
    assert run.status == "stopped"
    steps, rows = _loss_steps(history, "locked")
    # What an unlocked run writes: every logging step, each with the same metrics as the first.
    assert steps == list(range(5, run.step + 1, 5))
    names = {n for s, n in rows if s == 5}
    assert all({n for s, n in rows if s == step} == names for step in steps)
    log = log_path.read_text()
    assert "locked by another process" in log and "writable again" in log and "Traceback" not in log


def _last_printed_step(log_path: Path) -> int:
    found = re.findall(r"^step (\d+)/", log_path.read_text(errors="replace"), flags=re.MULTILINE)
    return int(found[-1]) if found else 0


@pytest.fixture
def small_disk(tmp_path):
    """A 16 MB tmpfs (runs go there; the database stays on the ordinary disk), unmounted after."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}): needs root")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_full_disk_fails_the_run_naming_the_path_and_keeps_the_checkpoint(ready_workspace, history, small_disk):
    from tests.core.jobs.test_lifecycle import _final

    run = _start(
        ready_workspace, history, "full", "training.max_steps=20", "training.save_steps=10", f"logging.output_dir={small_disk}"
    )
    run_dir = Path(run.run_dir)
    deadline = time.monotonic() + 300
    while not (run_dir / "checkpoint-10" / ckpt.MANIFEST).is_file():
        assert time.monotonic() < deadline, "no first checkpoint"
        time.sleep(0.1)
    filler = small_disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)  # unbuffered: every refused byte is seen here
    try:  # take every free byte: the next checkpoint cannot be written
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as err:
                assert err.errno == errno.ENOSPC
    finally:
        os.close(fd)
    run = _final(history, "full", timeout=300)
    assert run.status == "failed" and "disk full" in run.error, run.error
    # The checkpoint-20 save, or a run.log line if its last page filled first: a path in the run.
    assert str(run_dir) in run.error and "checkpoint-10" in run.hint
    assert ckpt.verify(run_dir / "checkpoint-10") is None  # the last good checkpoint, intact
    assert not list(run_dir.glob(".checkpoint-*")), "a half-written checkpoint was left behind"
    log = (run_dir / "run.log").read_text(errors="replace")
    assert "Traceback" not in log and log.count("disk full") <= 1
    filler.unlink()  # space again: the run resumes from its checkpoint and finishes
    jobs.resume("full", ready_workspace, history)
    run = _final(history, "full", timeout=300)
    assert run.status == "finished" and run.step == 20
    assert _loss_steps(history, "full")[0] == list(range(5, 21, 5))


@pytest.mark.timeout(300)
def test_sigterm_while_queued_ends_stopped_at_once(ready_workspace, history):
    import fcntl

    from tests.core.jobs.test_lifecycle import _final, _wait

    with open(ready_workspace.root / ".train.lock.0", "w") as slot:
        fcntl.flock(slot, fcntl.LOCK_EX)  # the only training slot is taken: the worker waits its turn
        run = _start(ready_workspace, history, "waiting", "training.max_steps=5")
        # The heartbeat file appears once the worker runs, after its signal handler is installed.
        _wait(
            history,
            "waiting",
            lambda r: r.status == "queued" and r.pid and (Path(r.run_dir) / "heartbeat").is_file(),
            timeout=120,
        )
        os.kill(run.pid, signal.SIGTERM)
        run = _final(history, "waiting", timeout=60)
    assert run.status == "stopped" and "SIGTERM before training began" in run.hint
    assert not ckpt.list_checkpoints(run.run_dir)
