"""`babyllama quickstart`: --detach starts the one quickstart job and returns; the real chain (slow)
ends with a finished tiny run whose rows are in the history."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.cli import main
from core.history import History
from core.jobs import spawn


class FakeProc:
    pid = os.getpid()


def test_detach_starts_the_quickstart_job_and_prints_its_name(workspace, monkeypatch, capsys):
    launched = []
    monkeypatch.setattr(spawn, "_launch", lambda run_dir, n: launched.append(run_dir.name) or FakeProc())
    assert main(["quickstart", "--detach", "--words", "20000", "--workspace", str(workspace.root)]) == 0
    out = capsys.readouterr().out
    assert (
        "corpus sample (new), tokenizer sample-bpe2000 (new), run tiny-sample (new)" in out
        and out.splitlines()[-1] == "quickstart"
    )
    with History(workspace.db_path) as h:
        row = h.get_run("quickstart")
    assert row.kind == "quickstart" and row.config["words"] == 20000 and launched == ["quickstart"]


def test_counts_below_one_are_refused(workspace, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["quickstart", "--vocab-size", "0", "--workspace", str(workspace.root)])
    assert exit_info.value.code == 2 and "--vocab-size" in capsys.readouterr().err


@pytest.mark.slow
def test_quickstart_runs_the_whole_chain(workspace, capsys):
    assert main(["quickstart", "--words", "30000", "--max-steps", "10", "--workspace", str(workspace.root)]) == 0
    out = capsys.readouterr().out
    assert "step 3/3: train run tiny-sample" in out and "run tiny-sample: finished at step 10" in out
    with History(workspace.db_path) as h:
        assert [r.status for r in h.list_runs()] == ["finished"] * 4
        assert h.metric_series("tiny-sample", "loss")
    assert workspace.corpora() == ["sample"] and workspace.tokenizers() == ["sample-bpe2000"]


def test_one_first_curve_time_in_readme_studio_and_help():
    from core.cli import build_parser
    from core.cli.quickstart_cmds import FIRST_CURVE
    from studio.panels.start_here import INTRO

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    assert FIRST_CURVE in " ".join(readme.split())
    assert FIRST_CURVE in INTRO
    verbs = next(a for a in build_parser()._actions if a.dest == "verb")
    assert FIRST_CURVE in next(c.help for c in verbs._choices_actions if c.dest == "quickstart")
