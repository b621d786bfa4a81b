"""A real worker whose job.json says `"history": "events"`: it never writes studio.db (its rows
appear only when ingested), and a metrics line it writes shows in studio.db within 2 s through the
polls' `jobs.refresh`; the run ends `finished` with every row once. Liveness of such a run on another
host goes by its beats, never its pid."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest

from core import jobs
from core.events.log import read_events
from core.history import FINAL, Kind, Run, Status


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_an_events_run_shows_in_studio_db_within_2_s_of_each_line(ready_workspace, history):
    from tests.core.jobs.test_lifecycle import _cfg

    run = jobs.start(
        "train",
        _cfg("training.save_steps=0", "training.max_steps=60"),
        ready_workspace,
        history,
        name="ev",
        history_sink="events",
    )
    run_dir = Path(run.run_dir)
    assert json.loads((run_dir / jobs.JOB_FILE).read_text())["history"] == "events"
    log = run_dir / "events.jsonl"
    deadline = time.monotonic() + 600
    while not any(e.type == "metrics" for e in read_events(log, 0).events):
        assert time.monotonic() < deadline, (run_dir / "run.log").read_text()[-3000:]
        time.sleep(0.2)
    time.sleep(3)  # nobody ingests meanwhile: the worker itself must not have written a row
    assert history.metrics_since("ev") == [] and history.get_run("ev").status == "queued"
    lags = []
    while (row := jobs.refresh(history, "ev")).status not in FINAL:
        events = read_events(log, 0).events
        newest = max((e for e in events if e.type == "metrics" and e.seq <= row.ingested_seq), key=lambda e: e.seq, default=None)
        step = newest.payload["rows"][-1][0] if newest else None
        if newest is not None and step not in {m["step"] for m in history.metrics_since("ev", step - 1)}:
            raise AssertionError(f"event {newest.seq} (step {step}) counted as ingested but not in studio.db")
        pending = [e for e in events if e.type == "metrics" and e.seq > row.ingested_seq]
        lags += [time.time() - e.time for e in pending if time.time() - e.time > 2.0]
        time.sleep(0.25)
    assert row.status == "finished", (run_dir / "run.log").read_text()[-3000:]
    # Everything up to the final status is in (a heartbeat the beat thread wrote after it may not be).
    final = max(e.seq for e in read_events(log, 0).events if e.type == "status")
    assert row.host and row.started and row.ingested_seq >= final
    assert not lags, f"rows waited {max(lags):.1f} s for ingest after being written"
    rows = [(m["step"], m["name"]) for m in history.metrics_since("ev")]
    assert len(rows) == len(set(rows)) and max(s for s, _ in rows) == 60
    written = {(r[0], r[1]) for e in read_events(log, 0).events if e.type == "metrics" for r in e.payload["rows"]}
    assert set(rows) == written


def test_an_events_run_on_another_host_lives_by_its_beats_not_its_pid(tmp_path):
    run_dir = tmp_path / "r"
    run_dir.mkdir()
    beat = run_dir / "heartbeat"
    beat.touch()
    run = Run(
        "r",
        Kind.TRAIN,
        Status.RUNNING,
        host="node-7",
        pid=999_999_999,
        pid_started=1.0,
        run_dir=str(run_dir),
        heartbeat=time.time() - 3600,
        created=time.time() - 3600,
    )
    assert jobs.is_alive(run)  # no such pid here, but the node's heartbeat file is fresh
    old = time.time() - jobs.STALE_AFTER_S - 5
    os.utime(beat, (old, old))
    assert not jobs.is_alive(run)
    assert jobs.is_alive(dataclasses.replace(run, heartbeat=time.time()))  # the last ingested heartbeat event
