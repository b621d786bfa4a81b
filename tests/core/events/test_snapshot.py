"""An eval or export job on the event-log history: the head's snapshot answers its reads of other
runs (rows, metrics, evals, artifacts: only of the runs the job names), and the results it records
on the model's run reach that run in studio.db, once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import UserError
from core.events import snapshot
from core.events.ingest import ingest_run
from core.events.sink import EventHistory
from core.history import History


@pytest.fixture
def head(tmp_path):
    """studio.db with a trained run `r1` (metrics, an eval), another run `r2`, and an eval job `ev`
    whose job.json says its history is an event log."""
    with History(tmp_path / "studio.db") as h:
        for name in ("r1", "r2"):
            h.create_run(name, "train", {"training": {"lr": 1e-3}}, tmp_path / "models" / name)
            h.log_metrics(name, 5, {"loss": 3.0 if name == "r1" else 9.0}, time=1.0)
            h.log_metrics(name, 10, {"loss": 2.5 if name == "r1" else 8.0}, time=2.0)
        h.log_eval("r1", 10, "ppl", "perplexity", 12.5)
        job_dir = tmp_path / "jobs" / "ev"
        job_dir.mkdir(parents=True)
        job = {"kind": "eval", "name": "ev", "workspace": str(tmp_path), "history": "events", "params": {"model": "r1"}}
        (job_dir / "job.json").write_text(json.dumps(job))
        h.create_run("ev", "eval", job["params"], job_dir)
        yield h, job_dir, job


def test_the_snapshot_holds_every_run_row_and_only_the_named_runs_rows(head):
    h, job_dir, job = head
    assert snapshot.write(h, job_dir, {**job, "kind": "train"}) is None  # training reads no other run
    path = snapshot.write(h, job_dir, job)
    assert path == job_dir / snapshot.SNAPSHOT_FILE and not list(job_dir.glob(".*tmp"))
    reads = snapshot.open_for(job_dir)
    assert {r.name for r in reads.list_runs()} == {"r1", "r2", "ev"}
    assert reads.metric_series("r1", "loss") == [(5, 3.0), (10, 2.5)]
    assert reads.metric_series("r2", "loss") == []  # not named by the job: not copied
    assert [e["value"] for e in reads.evals("r1")] == [12.5]
    with pytest.raises(UserError, match="cannot be written"):
        reads.log_metrics("r1", 11, {"loss": 1.0})  # read-only
    reads.close()


def test_a_checkpoint_path_names_its_run(head):
    h, job_dir, job = head
    run_dir = Path(h.get_run("r2").run_dir)
    (run_dir / "checkpoint-10").mkdir(parents=True)
    assert snapshot.named_runs(h, {"model": str(run_dir / "checkpoint-10")}) == [h.get_run("r2").id]
    assert snapshot.named_runs(h, {"model": "nope"}) == []


def test_an_eval_job_reads_the_snapshot_and_its_results_land_on_the_models_run(head):
    h, job_dir, job = head
    snapshot.write(h, job_dir, job)
    events = EventHistory(job_dir, job)
    assert events.get_run("r1").name == "r1" and events.get_run("ev").status == "queued"
    assert events.metric_series("r1", "loss") == [(5, 3.0), (10, 2.5)] and events.last_metrics("r1") == {"loss": 2.5}
    assert events.free_name("r1") == "r1-2" and events.get_run("missing") is None
    events.log_eval("r1", 10, "pairs", "mean", 0.75, {"eval_dir": "x"})
    events.add_artifact("r1", "eval", job_dir / "out")
    events.add_artifact("ev", "eval", job_dir / "out")
    events.log_eval(h.get_run("r1").id, 10, "pairs", "n", 4)  # by the head's id, as the snapshot gave it
    assert ingest_run(h, "ev") == 4 and ingest_run(h, "ev") == 0
    assert [(e["suite"], e["name"], e["value"]) for e in h.evals("r1")] == [
        ("ppl", "perplexity", 12.5),
        ("pairs", "mean", 0.75),
        ("pairs", "n", 4.0),
    ]
    assert [a["path"] for a in h.artifacts("r1")] == [str(job_dir / "out")] == [a["path"] for a in h.artifacts("ev")]
    assert h.evals("ev") == []


def test_results_for_a_run_deleted_meanwhile_are_skipped_in_order(head):
    h, job_dir, job = head
    snapshot.write(h, job_dir, job)
    events = EventHistory(job_dir, job)
    events.log_eval("r2", 10, "ppl", "perplexity", 3.0)
    h.delete_run("r2")
    events.set_status("ev", "finished")
    assert ingest_run(h, "ev") == 2 and h.get_run("ev").status == "finished"


def test_without_a_snapshot_other_runs_read_empty(tmp_path):
    job = {"kind": "eval", "name": "ev", "workspace": str(tmp_path), "history": "events"}
    events = EventHistory(tmp_path, job)
    assert events.get_run("r1") is None and events.list_runs() == [] and events.metric_series("r1", "loss") == []
