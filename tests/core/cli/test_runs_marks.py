"""`runs show` lists a run's chck_* checkpoints; `runs resume` says which broken checkpoint it
skipped, why, and how many steps are redone (CLI output with --detach, and run.log)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from core.cli import main
from core.history import History

DATA = ["data.train_path=syn", "data.tokenizer_path=tok"]


def _wait(ws, name, statuses, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with History(ws.db_path) as h:
            run = h.get_run(name)
        if run and run.status in statuses:
            return run
        time.sleep(0.2)
    raise AssertionError(f"{name} never reached {statuses}: {run}")


@pytest.mark.slow
def test_runs_show_lists_marks_and_resume_reports_the_fallback(ready_workspace, capsys):
    assert (
        main(
            [
                "train",
                "--config",
                "tiny",
                *DATA,
                "--model_name",
                "mk",
                "--detach",
                "training.max_steps=20",
                "training.save_steps=10",
                "training.eval_steps=0",
                "--checkpoint-words",
                "1k,2k",
            ]
        )
        == 0
    )
    run = _wait(ready_workspace, "mk", {"finished", "failed"})
    assert run.status == "finished", Path(run.run_dir, "run.log").read_text()[-2000:]
    capsys.readouterr()
    assert main(["runs", "show", "mk"]) == 0
    out = capsys.readouterr().out
    assert "BabyLM checkpoints" in out and "chck_1k" in out and "chck_2k" in out
    assert main(["runs", "show", "mk", "--json"]) == 0
    marks = json.loads(capsys.readouterr().out)["challenge_checkpoints"]
    assert [m["name"] for m in marks] == ["chck_1k", "chck_2k"] and all(m["words"] >= 1000 for m in marks)

    with History(ready_workspace.db_path) as h:
        h.set_status("mk", "stopped")  # pretend it was stopped, to resume it
    weights = Path(run.run_dir) / "checkpoint-20" / "model.safetensors"
    blob = bytearray(weights.read_bytes())
    blob[-10] ^= 0xFF
    weights.write_bytes(bytes(blob))
    assert main(["runs", "resume", "mk", "--detach"]) == 0
    out = capsys.readouterr().out
    assert "skipped checkpoint-20: model.safetensors does not match its checksum" in out
    assert "10 step(s) after it, up to checkpoint-20, are redone" in out
    assert _wait(ready_workspace, "mk", {"finished", "failed"}).status == "finished"
    log = Path(run.run_dir, "run.log").read_text()
    assert "warning: skipped checkpoint-20" in log and "are redone" in log
