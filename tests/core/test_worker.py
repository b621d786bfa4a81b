"""core.worker: when the database cannot be written mid-run, run.log (the worker's stdout) says
what happened and where, instead of the process dying with only an sqlite3 traceback."""
from __future__ import annotations

import json

from core import jobs, worker
from core.history import History


def test_unwritable_database_mid_run_is_said_in_the_log(workspace, monkeypatch, capsys):
    run_dir = workspace.root / "jobs" / "ro-mid"
    run_dir.mkdir(parents=True)
    (run_dir / jobs.JOB_FILE).write_text(json.dumps({"kind": "export", "name": "ro-mid", "num_processes": 1,
                                                      "workspace": str(workspace.root), "params": {}}))
    with History(workspace.db_path) as h:
        h.create_run("ro-mid", "export", {}, run_dir)

    def job_while_the_db_turns_read_only(job, ws, history, run_dir, is_main):
        history.conn.execute("PRAGMA query_only=1")  # SQLite's read-only mode (root ignores chmod)
        return "finished"

    monkeypatch.setitem(worker._KINDS, "export", job_while_the_db_turns_read_only)
    assert worker.run_job(run_dir) == 1  # before: the OperationalError escaped run_job
    out = capsys.readouterr().out
    assert f"could not record the end of run 'ro-mid' in {workspace.db_path}" in out
    assert "cannot be written" in out and str(run_dir) in out and "babyllama runs resume ro-mid" in out
    with History(workspace.db_path) as h:
        assert h.get_run("ro-mid")["status"] == "running"  # what it was: refresh will make it `lost`
