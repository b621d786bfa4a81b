"""core.events.sink + core.events.ingest: every event type lands in studio.db as the direct History
calls would write it; the ingest is exactly once, in order, through a crash between read and commit,
a process killed mid-apply, and two ingesters at once; nothing changed costs a stat."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from core.events import ingest
from core.events.ingest import ingest_all, ingest_run
from core.events.sink import EventHistory
from core.history import History
from core.history.schema import metric_rows

T0 = 1_700_000_000.0


def _job(run_dir: Path, ws_root: Path, name: str = "r", history: str = "events") -> dict:
    run_dir.mkdir(parents=True, exist_ok=True)
    job = {"kind": "train", "name": name, "workspace": str(ws_root), "num_processes": 1, "history": history}
    (run_dir / "job.json").write_text(json.dumps(job))
    return job


def _same_calls(h, run_dir: Path) -> None:
    """One run's life as the worker and loggers write it (times given where History stamps them)."""
    h.set_status("r", "running", pid=123, pid_started=T0 - 5, host="node-7", started=T0, heartbeat=T0)
    h.record_config("r", {"training": {"lr": 5e-4}, "path": "x"})
    h.update_progress("r", 0, 10)
    h.heartbeat("r", step=1, total_steps=10)
    run_id = h._run_id("r")
    rows = metric_rows(run_id, 1, {"loss": 3.5, "lr": 1e-4, "bad": math.nan, "big": math.inf}, 100, 80, T0 + 1)
    h.write_metric_rows(run_id, rows, [(1, "Once", "upon", T0 + 1)])
    h.write_metric_rows(run_id, metric_rows(run_id, 2, {"loss": 3.0}, 200, 160, T0 + 2))
    h.log_metrics("r", 3, {"loss": 2.5, "eval_loss": 2.7}, tokens=300, words=240, time=T0 + 3)
    h.log_sample("r", 3, "The", "cat")
    h.log_eval("r", 3, "pairs", "acc", 0.75, extra={"n": 4})
    h.truncate_after("r", 2)  # a resume from the checkpoint at step 2
    h.write_metric_rows(run_id, metric_rows(run_id, 3, {"loss": 2.4}, 300, 240, T0 + 4))
    h.add_artifact("r", "checkpoint", run_dir / "checkpoint-3", extra={"step": 3})
    h.set_status("r", "finished", error=None, hint=None, step=3, total_steps=10, ended=T0 + 9)


def _dump(h: History) -> dict:
    """Everything a run wrote, without the columns stamped with the call's own clock."""

    def rows(sql):
        return [tuple(r) for r in h.conn.execute(sql).fetchall()]

    run = h.get_run("r")
    return {
        "run": {k: v for k, v in run.to_dict().items() if k not in ("id", "created", "heartbeat", "ingested_seq")},
        "metrics": rows("SELECT step, name, value, time, tokens, words FROM metrics ORDER BY step, name"),
        "samples": rows("SELECT step, prompt, text FROM samples ORDER BY rowid"),
        "evals": rows("SELECT step, suite, name, value, extra FROM evals ORDER BY rowid"),
        "artifacts": rows("SELECT kind, path, extra FROM artifacts ORDER BY rowid"),
    }


def test_every_event_type_round_trips_into_what_the_direct_path_writes(tmp_path):
    run_dir = tmp_path / "ws" / "models" / "r"
    job = _job(run_dir, tmp_path / "ws")
    with History(tmp_path / "direct.db") as direct, History(tmp_path / "ingested.db") as target:
        for h in (direct, target):
            h.create_run("r", "train", {}, run_dir)
        _same_calls(direct, run_dir)
        events = EventHistory(run_dir, job)
        _same_calls(events, run_dir)
        assert ingest_run(target, "r") == 14
        assert _dump(target) == _dump(direct)
        assert target.get_run("r").ingested_seq == 14
        assert target.get_run("r").heartbeat == pytest.approx(time.time(), abs=30)
        assert ingest_run(target, "r") == 0  # applied once


def test_event_history_answers_reads_locally(tmp_path):
    run_dir = tmp_path / "r"
    job = _job(run_dir, tmp_path)
    events = EventHistory(run_dir, job)
    assert events.get_run("r").status == "queued" and not events.stop_requested("r")
    events.set_status("r", "running", pid=1, host="node-7")
    (run_dir / "STOP").touch()  # what jobs.stop writes first
    assert events.stop_requested("r") and events.get_run("r").stop_requested
    started = events.get_run("r").started
    resumed = EventHistory(run_dir, job)  # a resumed run: its first start time comes from the log
    assert resumed.get_run("r").started == started and resumed.get_run("r").status == "running"
    with pytest.raises(ValueError, match="belongs to run 'r'"):
        events.heartbeat("other")


def _filled(tmp_path, n_steps: int = 30):
    run_dir = tmp_path / "ws" / "models" / "r"
    job = _job(run_dir, tmp_path / "ws")
    events = EventHistory(run_dir, job)
    events.set_status("r", "running", pid=1, host="node-7")
    for step in range(1, n_steps + 1):
        events.write_metric_rows(0, metric_rows(0, step, {"loss": 10.0 / step, "lr": 0.001}, step * 10, step * 8, T0 + step))
    return run_dir, events


def _metric_count(h: History) -> tuple[int, int]:
    return h.conn.execute("SELECT count(*), count(DISTINCT step) FROM metrics").fetchone()


def test_a_crash_between_read_and_commit_applies_nothing_and_the_rerun_everything_once(tmp_path, monkeypatch):
    run_dir, _ = _filled(tmp_path)
    with History(tmp_path / "ws" / "studio.db") as h:
        h.create_run("r", "train", {}, run_dir)
        real, calls = ingest._APPLY["metrics"], []

        def dies_on_the_20th(conn, run_id, event):
            calls.append(event.seq)
            if len(calls) == 20:
                raise RuntimeError("ingester killed")
            real(conn, run_id, event)

        monkeypatch.setitem(ingest._APPLY, "metrics", dies_on_the_20th)
        with pytest.raises(RuntimeError):
            ingest_run(h, "r")
        assert _metric_count(h) == (0, 0) and h.get_run("r").ingested_seq == 0
        monkeypatch.setitem(ingest._APPLY, "metrics", real)
        assert ingest_run(h, "r") == 31
        assert _metric_count(h) == (60, 30) and h.get_run("r").ingested_seq == 31


def test_an_ingester_process_killed_mid_apply_loses_and_doubles_nothing(tmp_path):
    run_dir, events = _filled(tmp_path)
    db = tmp_path / "ws" / "studio.db"
    with History(db) as h:
        h.create_run("r", "train", {}, run_dir)
        assert ingest_run(h, "r") == 31  # a first ingest, then more events, then the killed one
        for step in range(31, 41):
            events.write_metric_rows(0, metric_rows(0, step, {"loss": 1.0, "lr": 0.001}, None, None, T0 + step))
        events.log_sample("r", 40, "a", "b")
    script = textwrap.dedent(f"""
        import os
        from core.events import ingest
        from core.history import History
        real = ingest._APPLY["metrics"]
        seen = []
        def exits(conn, run_id, event):
            real(conn, run_id, event)
            seen.append(event.seq)
            if len(seen) == 5:
                os._exit(9)  # killed mid-transaction: no commit, no rollback, no cleanup
        ingest._APPLY["metrics"] = exits
        ingest.ingest_run(History({str(db)!r}), "r")
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[3], timeout=60)
    assert proc.returncode == 9
    with History(db) as h:
        assert h.get_run("r").ingested_seq == 31 and _metric_count(h) == (60, 30)
        assert ingest_run(h, "r") == 11
        assert _metric_count(h) == (80, 40) and h.get_run("r").ingested_seq == 42
        assert len(h.samples("r")) == 1


def test_two_ingesters_at_once_apply_each_event_exactly_once(tmp_path):
    run_dir, events = _filled(tmp_path, n_steps=5)
    db = tmp_path / "ws" / "studio.db"
    with History(db) as h:
        h.create_run("r", "train", {}, run_dir)
    done = threading.Event()

    def write():
        for step in range(6, 206):
            events.write_metric_rows(0, metric_rows(0, step, {"loss": 1.0}, None, None, T0 + step))
            events.log_sample("r", step, "p", str(step))
        done.set()

    def poll(applied: list):
        with History(db) as mine:  # the studio's and the CLI's own connections
            while not done.is_set():
                applied.append(ingest_run(mine, "r"))
            applied.append(ingest_run(mine, "r"))

    counts = [[], []]
    threads = [threading.Thread(target=write)] + [threading.Thread(target=poll, args=(c,)) for c in counts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    with History(db) as h:
        assert sum(map(sum, counts)) == 1 + 5 + 400  # every event applied by exactly one of them
        assert h.get_run("r").ingested_seq == 406
        assert _metric_count(h) == (5 * 2 + 200, 205)
        texts = [int(s["text"]) for s in h.samples("r", limit=1000)]
        assert sorted(texts) == list(range(6, 206))  # no sample doubled or lost


def test_nothing_new_costs_no_read_and_ingest_all_takes_only_events_runs(tmp_path, monkeypatch):
    run_dir, events = _filled(tmp_path, n_steps=3)
    plain = tmp_path / "ws" / "models" / "plain"
    _job(plain, tmp_path / "ws", name="plain", history="sqlite")
    EventHistory(plain, {"name": "plain", "kind": "train"}).update_progress("plain", 7)  # a stray log: not ingested
    with History(tmp_path / "ws" / "studio.db") as h:
        h.create_run("r", "train", {}, run_dir)
        h.create_run("plain", "train", {}, plain)
        assert ingest_all(h) == 4
        reads = []
        monkeypatch.setattr(ingest, "read_events", lambda *a: reads.append(a))
        assert ingest_all(h) == 0 and reads == []  # a stat showed nothing changed
        assert ingest_run(h, "plain") == 0
        assert h.get_run("plain").step is None and h.get_run("plain").ingested_seq == 0


def test_a_final_status_event_overrides_lost_and_refresh_ingests_first(tmp_path, monkeypatch):
    from core import jobs

    run_dir, events = _filled(tmp_path, n_steps=2)
    events.set_status("r", "finished", step=2)
    with History(tmp_path / "ws" / "studio.db") as h:
        h.create_run("r", "train", {}, run_dir)
        h.set_status("r", "lost")  # marked lost before its events were read
        assert jobs.refresh(h, "r").status == "finished"
        assert [r.name for r in h.list_runs(status="finished")] == ["r"]
