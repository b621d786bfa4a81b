"""Tests for core.history: migrations, WAL, the run API, the metrics hot path, MetricWriter, and
several processes writing while the main process polls, all on real SQLite files."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import UserError
from core.history import ACTIVE, FINAL, History, MetricWriter, Status, open_history
from core.history.migrations import METRICS_INDEX

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def hist(workspace):
    h = open_history(workspace)
    yield h
    h.close()


def _count(h: History, table: str, where: str = "1", params: tuple = ()) -> int:
    return h.conn.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()[0]


# -- connection and migrations ------------------------------------------------------------------
def test_connection_uses_wal_busy_timeout_and_foreign_keys(hist):
    assert hist.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert hist.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    assert hist.conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    assert hist.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    tables = {row[0] for row in hist.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"runs", "metrics", "evals", "samples", "artifacts", "_migrations"} <= tables


def test_import_stays_light():
    code = "import sys, core.history; print(sorted({'torch', 'gradio', 'transformers'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- runs ---------------------------------------------------------------------------------------
def test_run_round_trip_create_get_list_status(hist, tmp_path):
    created = hist.create_run(
        "tiny",
        "train",
        {"model": {"hidden": 64}, "out": tmp_path},
        tmp_path / "tiny",
        command="babyllama train --config presets/tiny.yaml",
        total_steps=100,
    )
    assert created.status == "queued" and created.created > 0
    assert created.config == {"model": {"hidden": 64}, "out": str(tmp_path)}
    hist.create_run("other", "eval", {}, None, parent="tiny")

    hist.set_status("tiny", "running", pid=1234, host="box")
    run = hist.get_run("tiny")
    assert (run.status, run.pid, run.host, run.total_steps) == ("running", 1234, "box", 100)
    assert run.started is not None and run.ended is None
    assert run.command.startswith("babyllama train")

    hist.set_status("tiny", "failed", error="CUDA out of memory", hint="halve the batch size")
    run = hist.get_run(run.id)  # by id too
    assert run.status == "failed" and run.ended >= run.started
    assert (run.error, run.hint) == ("CUDA out of memory", "halve the batch size")

    assert [r.name for r in hist.list_runs()] == ["other", "tiny"]  # newest first
    assert [r.name for r in hist.list_runs(kind="train")] == ["tiny"]
    assert [r.name for r in hist.list_runs(status="queued")] == ["other"]
    assert hist.list_runs(kind="train", status="queued") == []
    assert hist.get_run("missing") is None
    assert FINAL | ACTIVE == set(Status) and not FINAL & ACTIVE


def test_bad_status_field_kind_and_run_are_rejected(hist):
    hist.create_run("r", "train", {}, None)
    with pytest.raises(ValueError, match="done"):
        hist.set_status("r", "done")
    with pytest.raises(ValueError, match="colour"):
        hist.set_status("r", "running", colour="red")
    with pytest.raises(ValueError, match="kind"):
        hist.create_run("s", "dance", {}, None)
    with pytest.raises(UserError, match="nope"):
        hist.set_status("nope", "running")
    assert hist.get_run("r").status == "queued"


def test_taken_name_names_the_run_and_suggests_a_free_one(hist):
    hist.create_run("baby", "train", {}, None)
    with pytest.raises(UserError) as err:
        hist.create_run("baby", "train", {}, None)
    assert "'baby'" in str(err.value) and "'baby-2'" in str(err.value)
    assert len(hist.list_runs()) == 1


def test_free_name_skips_taken_suffixes(hist):
    assert hist.free_name("run") == "run"
    for name in ("run", "run-2", "run-x", "runner"):
        hist.create_run(name, "train", {}, None)
    assert hist.free_name("run") == "run-3"
    assert hist.free_name("runner") == "runner-2"
    assert hist.free_name("ru") == "ru"


def test_stop_request_and_heartbeat(hist):
    hist.create_run("r", "train", {}, None)
    assert hist.stop_requested("r") is False
    hist.request_stop("r")
    assert hist.stop_requested("r") is True
    hist.heartbeat("r", step=42)
    run = hist.get_run("r")
    assert run.step == 42 and time.time() - run.heartbeat < 5


def test_rename_keeps_history_and_children(hist):
    hist.create_run("sweep", "train", {}, None)
    hist.create_run("trial", "train", {}, None, parent="sweep")
    hist.log_metrics("sweep", 1, {"loss": 1.0})
    hist.rename_run("sweep", "sweep-b", run_dir="/w/models/sweep-b")
    assert hist.get_run("sweep") is None
    assert hist.get_run("sweep-b").run_dir == "/w/models/sweep-b"
    assert hist.get_run("trial").parent == "sweep-b"
    assert hist.metric_series("sweep-b", "loss") == [(1, 1.0)]
    with pytest.raises(UserError, match="taken"):
        hist.rename_run("sweep-b", "trial")


def test_delete_cascades_to_every_child_table(hist):
    for name in ("gone", "kept"):
        hist.create_run(name, "train", {}, None)
        hist.log_metrics(name, 1, {"loss": 1.0, "lr": 0.1})
        hist.log_sample(name, 1, "Once upon", "a time")
        hist.log_eval(name, 1, "blimp", "anaphor_agreement", 0.7, extra={"n": 10})
        hist.add_artifact(name, "checkpoint", f"/w/{name}/checkpoint-1")
    gone_id = hist.get_run("gone").id
    assert hist.delete_run("gone") is True
    assert hist.delete_run("gone") is False
    for table in ("metrics", "samples", "evals", "artifacts"):
        assert _count(hist, table, "run_id = ?", (gone_id,)) == 0
        assert _count(hist, table) > 0  # the other run's rows survive
    assert hist.evals("kept")[0]["extra"] == {"n": 10}
    assert hist.artifacts("kept", kind="checkpoint")[0]["path"] == "/w/kept/checkpoint-1"


# -- metrics --------------------------------------------------------------------------------------
def test_metrics_since_returns_only_newer_rows_in_step_order(hist):
    hist.create_run("a", "train", {}, None)
    hist.create_run("b", "train", {}, None)
    for step in (3, 1, 2, 5, 4):  # logged out of order on purpose
        hist.log_metrics("a", step, {"loss": 10.0 - step, "lr": 0.01}, tokens=step * 100)
        hist.log_metrics("b", step, {"loss": 99.0})
    rows = hist.metrics_since("a", 2)
    assert [(r["step"], r["name"]) for r in rows] == [(3, "loss"), (3, "lr"), (4, "loss"), (4, "lr"), (5, "loss"), (5, "lr")]
    assert rows[0]["value"] == 7.0 and rows[0]["tokens"] == 300
    assert hist.metrics_since(hist.get_run("a").id, 4) == rows[-2:]
    assert len(hist.metrics_since("a")) == 10
    assert hist.metrics_since("a", 5) == []
    assert hist.metrics_since("not-started-yet", -1) == []
    assert hist.metric_series("a", "loss") == [(s, 10.0 - s) for s in range(1, 6)]
    assert hist.last_metrics("a") == {"loss": 5.0, "lr": 0.01}
    assert hist.get_run("a").step == 5


@pytest.mark.parametrize("by", ["name", "id"])
def test_metrics_since_is_one_indexed_query(hist, by):
    for name in ("a", "b"):
        hist.create_run(name, "train", {}, None)
        for step in range(50):
            hist.log_metrics(name, step, {"loss": 1.0, "lr": 0.1})
    run = "a" if by == "name" else hist.get_run("a").id
    statements: list[str] = []
    hist.conn.set_trace_callback(statements.append)
    try:
        assert len(hist.metrics_since(run, 10)) == 78
    finally:
        hist.conn.set_trace_callback(None)
    assert len(statements) == 1  # one round trip, name resolved inside it
    plan = " | ".join(row[3] for row in hist.conn.execute("EXPLAIN QUERY PLAN " + statements[0]))
    assert f"SEARCH metrics USING INDEX {METRICS_INDEX} (run_id=? AND step>?)" in plan
    assert "SCAN metrics" not in plan and "TEMP B-TREE" not in plan


def test_truncate_after_then_relog_gives_no_duplicates(hist):
    hist.create_run("r", "train", {}, None)
    for step in range(1, 11):
        hist.log_metrics("r", step, {"loss": float(step)})
        if step % 4 == 0:
            hist.log_sample("r", step, "p", f"old {step}")
            hist.log_eval("r", step, "ppl", "dev", float(step))
    hist.truncate_after("r", 6)  # resumed from checkpoint-6
    assert hist.get_run("r").step == 6
    assert [s["step"] for s in hist.samples("r", 10)] == [4]
    assert [e["step"] for e in hist.evals("r")] == [4]
    for step in range(7, 11):
        hist.log_metrics("r", step, {"loss": step / 10})
    hist.log_metrics("r", 10, {"loss": 0.5})  # re-logged row replaces, never duplicates
    series = hist.metric_series("r", "loss")
    assert [s for s, _ in series] == list(range(1, 11))
    assert series[6:] == [(7, 0.7), (8, 0.8), (9, 0.9), (10, 0.5)]
    assert _count(hist, "metrics") == 10


def test_samples_newest_first_with_limit(hist):
    hist.create_run("r", "train", {}, None)
    for step in (10, 20, 30):
        hist.log_sample("r", step, "The cat", f"text {step}")
    assert [s["text"] for s in hist.samples("r", 2)] == ["text 30", "text 20"]


# -- MetricWriter ---------------------------------------------------------------------------------
def test_writer_rows_invisible_until_flush_interval_passes(workspace):
    with History(workspace.db_path) as writer_side, History(workspace.db_path) as reader:
        writer_side.create_run("r", "train", {}, None)
        writer = MetricWriter(writer_side, "r", flush_interval=0.4)
        logged = time.monotonic()
        writer.log(1, {"loss": 2.0}, tokens=128, words=100)
        writer.log(2, {"loss": 1.5})
        assert reader.metrics_since("r", 0) == []  # buffered, not yet written
        while not reader.metrics_since("r", 0) and time.monotonic() < logged + 3:
            time.sleep(0.01)  # no further log() call: the writer's thread must flush
        waited = time.monotonic() - logged
        rows = reader.metrics_since("r", 0)
        assert [(r["step"], r["value"]) for r in rows] == [(1, 2.0), (2, 1.5)]
        assert (rows[0]["tokens"], rows[0]["words"]) == (128, 100)
        assert 0.2 < waited < 1.0  # the promise: visible to other connections within 1 s
        writer.close()


def test_writer_flushes_a_full_batch_at_once_and_on_close(tmp_path):
    db_path = tmp_path / "s.db"
    with History(db_path) as reader:
        reader.create_run("r", "train", {}, None)
        writer = MetricWriter(db_path, "r", flush_interval=60, max_batch=10)  # opens its own History
        for step in range(5):
            writer.log(step, {"a": 1.0, "b": 2.0})  # the 5th call makes 10 rows: written at once
        deadline = time.monotonic() + 2  # by the thread, not after the 60 s interval
        while len(reader.metrics_since("r")) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(reader.metrics_since("r")) == 10
        writer.log(5, {"a": 1.0})
        assert len(reader.metrics_since("r")) == 10
        writer.close()
        assert len(reader.metrics_since("r")) == 11


def test_writer_flush_errors_reach_the_caller(hist):
    hist.create_run("r", "train", {}, None)
    writer = MetricWriter(hist, "r", flush_interval=60)
    writer.log(1, {"loss": 1.0})
    hist.delete_run("r")
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        writer.flush()
    assert writer._buffer, "rows of a failed flush are kept for the next try"
    writer._buffer.clear()
    writer.close()


def test_writer_keeps_rows_and_samples_while_the_database_is_locked(tmp_path, monkeypatch):
    """A lock held past the busy timeout delays rows: none lost, none doubled, the caller never
    sees an error and never waits on the lock once it is known."""
    from core.history import schema

    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 400)
    db_path = tmp_path / "s.db"
    with History(db_path) as reader:
        reader.create_run("r", "train", {}, None)
        writer = MetricWriter(db_path, "r", flush_interval=0.05)
        writer.log(1, {"loss": 2.0})
        assert writer.flush()
        lock = sqlite3.connect(db_path, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            started = time.monotonic()
            writer.log(2, {"loss": 1.5})
            writer.log_sample(2, "the cat", " sat")
            # Before the lock is known: the caller waits `wait` at most, not the busy timeout.
            assert not writer.flush(wait=0.05) and time.monotonic() - started < 0.15
            deadline = time.monotonic() + 5
            while writer.delayed_since is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert writer.delayed_since is not None
            started = time.monotonic()
            for step in range(3, 50):
                writer.log(step, {"loss": 1.0 / step})
            assert not writer.flush() and time.monotonic() - started < 0.15  # no wait on the lock
            assert writer.pending == 48 + 1
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert writer.close(patience=10)
        rows = [(m["step"], m["name"]) for m in reader.metrics_since("r")]
        assert rows == [(step, "loss") for step in range(1, 50)]
        assert [(s["step"], s["prompt"], s["text"]) for s in reader.samples("r")] == [(2, "the cat", " sat")]


def _write_for_a_while(db_path: str, run_name: str, steps: int, seconds: float) -> None:
    """Child process body: one MetricWriter logging `steps` steps of 2 metrics over `seconds`."""
    with MetricWriter(db_path, run_name, flush_interval=0.05, max_batch=200) as writer:
        start = time.monotonic()
        for step in range(steps):
            writer.log(step, {"loss": 1.0 / (step + 1), "lr": 3e-4}, tokens=step * 64)
            time.sleep(max(0.0, start + seconds * (step + 1) / steps - time.monotonic()))


def test_two_writer_processes_and_a_poller_lose_nothing(tmp_path):
    db_path, steps, runs = tmp_path / "studio.db", 1500, ("p1", "p2")
    with History(db_path) as poller:
        for name in runs:
            poller.create_run(name, "train", {}, None)
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_write_for_a_while, args=(str(db_path), n, steps, 2.0)) for n in runs]
        for p in procs:
            p.start()
        seen = {name: [] for name in runs}
        last = {name: -1 for name in runs}
        polls, deadline = 0, time.monotonic() + 60
        while True:
            alive = any(p.is_alive() for p in procs)  # read before polling: a last poll follows exit
            for name in runs:
                rows = poller.metrics_since(name, last[name])
                assert all(r["step"] > last[name] for r in rows)
                assert [r["step"] for r in rows] == sorted(r["step"] for r in rows)
                seen[name] += rows
                last[name] = rows[-1]["step"] if rows else last[name]
                poller.heartbeat(name)  # the main process writes too
            polls += 1
            if not alive or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        for p in procs:
            p.join(timeout=10)
    assert [p.exitcode for p in procs] == [0, 0]
    assert polls >= 10  # the poller really ran while the writers wrote
    with History(db_path) as check:
        for name in runs:
            assert [(r["step"], r["name"]) for r in seen[name]] == [(s, m) for s in range(steps) for m in ("loss", "lr")]
            run_id = check.get_run(name).id
            assert _count(check, "metrics", "run_id = ?", (run_id,)) == 2 * steps
            assert check.get_run(name).step == steps - 1
