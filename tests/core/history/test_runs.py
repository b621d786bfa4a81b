"""core.history.runs: a run row comes back as a frozen, typed `Run` (config parsed, enums equal to
the stored strings), `to_dict` is its JSON form, and only the kinds a job can be are accepted."""

from __future__ import annotations

import dataclasses
import json

import pytest

from core.history import ACTIVE, FINAL, History, Kind, Run, Status


@pytest.fixture
def hist(tmp_path):
    with History(tmp_path / "studio.db") as h:
        yield h


def test_rows_come_back_typed_and_frozen(hist, tmp_path):
    made = hist.create_run("r", "train", {"training": {"lr": 1e-3}}, tmp_path / "r", command="babyllama train")
    hist.set_status("r", "running", pid=12, step=3, total_steps=10)
    run = hist.get_run("r")
    assert isinstance(made, Run) and made.status is Status.QUEUED and made.kind is Kind.TRAIN
    assert run.status is Status.RUNNING and run.status == "running" and run.is_active and not run.is_final
    assert run.config == {"training": {"lr": 1e-3}} and run.run_dir == str(tmp_path / "r")
    assert (run.pid, run.step, run.total_steps, run.stop_requested, run.backend) == (12, 3, 10, False, "local")
    assert run.id == made.id and isinstance(run.created, float) and run.started is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.status = Status.LOST
    with pytest.raises(TypeError):
        run["status"]  # attribute access only


def test_to_dict_is_plain_json(hist):
    hist.create_run("e", "eval", {"suites": ["ppl"]}, None)
    hist.request_stop("e")
    shown = hist.get_run("e").to_dict()
    assert json.loads(json.dumps(shown)) == shown
    assert type(shown["status"]) is str and shown["status"] == "queued" and shown["kind"] == "eval"
    assert shown["stop_requested"] is True and shown["config"] == {"suites": ["ppl"]}


def test_status_sets_and_kinds():
    assert ACTIVE == {"queued", "running"} and FINAL == {"finished", "stopped", "failed", "lost"}
    assert not {"bench", "sweep"} & set(Kind)  # never created: gone


@pytest.mark.parametrize("kind", ["bench", "sweep"])
def test_kinds_no_job_makes_are_refused(hist, kind):
    with pytest.raises(ValueError, match=f"run kind '{kind}' is not one of"):
        hist.create_run("x", kind, {}, None)
