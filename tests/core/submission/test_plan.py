"""The submission plan of a fake run: the track's revisions, each part done / running / failed /
short / missing from the official files on disk and the history's jobs, the checkpoint schedule
and the word budget."""

from __future__ import annotations

import json
import os
import time

import pytest

import tests.core.submission.fixtures as fx
from core.errors import UserError
from core.submission.plan import make_plan, track_marks

SCALE = 0.0001  # chck_1M -> the run's chck_100 (100 words), chck_100M -> chck_10k


def fake_run(
    ws, history, name, revisions, marks="100,200,300,400,500,600,700,800,900,1k,2k,3k,4k,5k,6k,7k,8k,9k,10k", words=12_000
):
    """A finished run row and folder with a `chck_*` folder (manifest only) per revision given."""
    run_dir = ws.models_dir / name
    run_dir.mkdir(parents=True)
    history.create_run(name, "train", {"training": {"checkpoint_words": marks}}, run_dir)
    history.set_status(name, "finished")
    history.log_metrics(name, 10, {"loss": 1.0}, tokens=words * 2, words=words)
    for rev in revisions:
        n = int(rev[5:-1]) * 100  # chck_<N>M at scale 1e-4: N * 100 words
        folder = run_dir / (f"chck_{n // 1000}k" if n % 1000 == 0 else f"chck_{n}")
        folder.mkdir()
        (folder / "checkpoint.json").write_text(json.dumps({"step": n // 100, "words_seen": n}))
    return run_dir


def test_track_marks_follow_collate_preds():
    assert len(track_marks("strict-small")) == 19 and len(track_marks("strict")) == 28
    with pytest.raises(UserError, match="--track 'loose'"):
        track_marks("loose")


def test_plan_reads_done_running_failed_and_missing(workspace, history, tmp_path):
    data = fx.write_data(tmp_path)
    run_dir = fake_run(workspace, history, "r", fx.STRICT_SMALL[:-2])  # no chck_90M, chck_100M sources
    parts = run_dir / "submission" / "parts"
    fx.write_part(parts / "fast-chck_1M", "r", "chck_1M", "fast", data)
    fx.write_part(parts / "full-main", "r", "main", "full", data)
    short = fx.write_part(parts / "fast-chck_2M", "r", "chck_2M", "fast", data)
    os.remove(short / "results" / "r" / "chck_2M" / "zero_shot" / "causal" / "reading" / "predictions.json")
    history.create_run("e1", "eval", {"output": str(parts / "fast-chck_3M")}, tmp_path / "e1")
    history.set_status("e1", "running", pid=os.getpid(), pid_started=_own_start(), heartbeat=time.time())
    history.create_run("e2", "eval", {"output": str(parts / "aoa-main")}, tmp_path / "e2")
    history.set_status("e2", "failed", error="UserError: --suite aoa: not available in this version")

    plan = make_plan("r", "strict-small", str(data), workspace, history, SCALE)
    status = {(p.kind, p.revision): p for p in plan.parts}
    assert [p.revision for p in plan.parts if p.kind == "fast"] == fx.STRICT_SMALL
    assert status[("fast", "chck_1M")].status == "done" and status[("full", "main")].status == "done"
    assert status[("fast", "chck_2M")].status == "short" and "reading/predictions.json" in status[("fast", "chck_2M")].note
    assert status[("fast", "chck_3M")].status == "running" and status[("fast", "chck_3M")].job == "e1"
    assert status[("aoa", "main")].status == "failed" and "not available" in status[("aoa", "main")].note
    assert status[("fast", "chck_4M")].status == "missing" and status[("glue", "main")].status == "missing"
    assert status[("fast", "chck_90M")].status == "unavailable"
    assert status[("fast", "chck_1M")].model == str(run_dir.resolve() / "chck_100")
    assert "--revision chck_4M" in status[("fast", "chck_4M")].command(str(data))
    assert plan.counts() == {"done": 2, "short": 1, "running": 1, "failed": 1, "missing": 16, "unavailable": 2}
    assert [s.split(":")[0] for s in plan.schedule] == ["chck_9k (for chck_90M)", "chck_10k (for chck_100M)"]
    assert "passed that mark but saved no folder" in plan.schedule[0]


def test_schedule_says_why_a_mark_is_missing(workspace, history, tmp_path):
    data = fx.write_data(tmp_path)
    fake_run(workspace, history, "few", fx.STRICT_SMALL[:3], marks="100,200,300")
    plan = make_plan("few", "strict-small", str(data), workspace, history, SCALE)
    assert len(plan.schedule) == 16
    assert "training.checkpoint_words (100,200,300) has no 400-word mark" in plan.schedule[0]
    with pytest.raises(UserError, match="run 'nope': no training run"):
        make_plan("nope", "strict-small", str(data), workspace, history, SCALE)


def _own_start():
    from core.jobs import process_start_time

    return process_start_time(os.getpid())
