"""Bad CLI input exits 2 naming the field and writes nothing; a closed pipe is no error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.history import History
from core.history import store as history_mod

ROOT = Path(__file__).resolve().parents[3]
DATA = ["data.train_path=syn", "data.tokenizer_path=tok"]


def test_lr_nan_exits_2_before_any_row_or_folder(ready_workspace, capsys):
    # Before: a traceback, and a failed run with its folder left behind.
    assert main(["train", "--config", "tiny", *DATA, "--model_name", "nan-run", "--lr", "nan", "--detach"]) == 2
    assert "training.lr: must be a finite number" in capsys.readouterr().err
    assert not (ready_workspace.models_dir / "nan-run").exists()
    with History(ready_workspace.db_path) as h:
        assert h.list_runs() == []


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["train", "--config", "tiny", "--num-processes", "0"], "--num-processes"),
        (["distill", "--config", "tiny", "--num-processes", "0"], "--num-processes"),
        (["eval", "some-run", "--seq-length", "0"], "--seq-length"),
    ],
)
def test_zero_counts_are_refused(workspace, capsys, argv, flag):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert flag in err and "must be >= 1, got 0" in err


def test_workspace_that_is_a_file_exits_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for argv in (["runs", "list"], ["train", "--config", "tiny"]):
        assert main([*argv, "--workspace", str(blocker)]) == 2
        assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["runs", "list", "--workspace", str(blocker / "sub")]) == 2
    assert "cannot create" in capsys.readouterr().err


def test_read_only_database_at_start_names_it_and_leaves_nothing(ready_workspace, capsys, monkeypatch):
    History(ready_workspace.db_path).close()  # migrated while writable
    real_connect = history_mod.connect

    def read_only(path):  # SQLite's own read-only mode: root ignores file permissions
        db = real_connect(path)
        db.execute("PRAGMA query_only=1")
        return db

    monkeypatch.setattr(history_mod, "connect", read_only)
    assert main(["train", "--config", "tiny", *DATA, "--model_name", "ro", "--detach"]) == 2
    err = capsys.readouterr().err
    assert str(ready_workspace.db_path) in err and "cannot be written" in err and "Traceback" not in err
    # Before: models/ro/ was left behind and blocked the name.
    assert not (ready_workspace.models_dir / "ro").exists()


def test_closed_pipe_is_quiet(workspace):
    """`babyllama runs list | head -1`: the reader closes the pipe before the CLI writes (closed
    here at once, so the CLI's first write always meets it). Before: 'BrokenPipeError' on stderr."""
    env = {**os.environ, "BABYLLAMA_WORKSPACE": str(workspace.root)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "runs", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    assert "BrokenPipe" not in err and "Traceback" not in err and err == ""


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--config", "tiny", "--num-processes", "99999"], "argument --num-processes/--num_processes: must be <= 1,024"),
        (["quickstart", "--words", "1000000000"], "argument --words: must be <= 200,000,000"),
        (["quickstart", "--max-steps", "1" * 30], "argument --max-steps: must be <= 1,000,000,000"),
        (["eval", "some-run", "--seq-length", "99999999"], "argument --seq-length: must be <= 32,768"),
        (["sweep", "--config", "tiny-lr", "--trials", "100000"], "argument --trials: must be <= 10,000"),
    ],
)
def test_absurd_counts_are_refused_by_the_parser(workspace, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err
