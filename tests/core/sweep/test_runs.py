"""core.sweep.runs + core.sweep.plot: trials queued as real runs and linked, results, best, stop."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from core.config.resolve import data_checker
from core.errors import UserError
from core.history import FINAL, History
from core.history.schema import write_transaction
from core.sweep import plot as sweep_plot
from core.sweep import runs as sweep_runs
from core.sweep import spec as sweep

FAST = {
    "data.train_path": "syn",
    "data.tokenizer_path": "tok",
    "training.logging_steps": 1,
    "training.eval_steps": 0,
    "training.save_steps": 0,
    "training.warmup_steps": 0,
}


def _plan(ws, name, grid, **extra):
    spec = {"name": name, "base": "tiny", "overrides": {**FAST, **extra}, "grid": grid}
    return sweep.plan(spec, ws, checks=[data_checker(ws, require=True)])


def _wait_final(history, names, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = {n: sweep_runs.jobs.refresh(history, n) for n in names}
        if all(r.status in FINAL for r in runs.values()):
            return runs
        time.sleep(0.3)
    raise AssertionError(f"trials not final: {[(n, r['status']) for n, r in runs.items()]}")


@pytest.fixture
def history(ready_workspace):
    with History(ready_workspace.db_path) as h:
        yield h


@pytest.mark.slow
def test_tiny_sweep_runs_every_trial_linked_and_results_pick_the_best(ready_workspace, history):
    plan = _plan(ready_workspace, "lrs", {"training.lr": [1e-4, 3e-3]}, **{"training.max_steps": 3})
    started = sweep_runs.start(plan, ready_workspace, history, command="babyllama sweep --config x")
    names = [t["run"] for t in started["trials"]]
    assert names == ["lrs-lr1e-4", "lrs-lr3e-3"] and started["metric"] == "eval_loss"
    assert all(t["status"] in ("queued", "running") for t in started["trials"])
    runs = _wait_final(history, names)
    assert all(r.status == "finished" and r.step == 3 for r in runs.values()), runs
    assert runs["lrs-lr3e-3"].config["training"]["lr"] == 3e-3
    assert "--model_name lrs-lr3e-3" in runs["lrs-lr3e-3"].command
    result = sweep_runs.results(history, "lrs")
    finals = {r["run"]: min(v for _, v in history.metric_series(r["run"], "eval_loss")) for r in result["rows"]}
    assert result["best"] == min(finals, key=finals.get)
    assert [r["best"] for r in result["rows"]].count(True) == 1
    assert {r["run"]: r["value"] for r in result["rows"]} == finals
    assert result["rows"][0]["params"] == {"training.lr": 1e-4}
    folder = Path(started["sweep_dir"])
    replanned = sweep.plan(sweep.read_spec(folder / sweep_runs.SPEC_FILE), name="again")
    assert [t.params for t in replanned.trials] == [t.params for t in plan.trials]
    assert [t["name"] for t in json.loads((folder / sweep_runs.TRIALS_FILE).read_text())] == names
    listed = sweep_runs.list_sweeps(history)
    assert listed[0]["name"] == "lrs" and listed[0]["statuses"] == {"finished": 2}


def test_stop_stops_queued_trials_before_they_finish(ready_workspace, history):
    plan = _plan(ready_workspace, "halt", {"training.seed": [1, 2, 3]}, **{"training.max_steps": 100000})
    sweep_runs.start(plan, ready_workspace, history)
    outcomes = sweep_runs.stop(history, "halt")
    assert set(outcomes) == {"halt-seed1", "halt-seed2", "halt-seed3"}
    assert set(outcomes.values()) == {"requested"}
    runs = _wait_final(history, list(outcomes), timeout=120)
    assert {r.status for r in runs.values()} == {"stopped"}, runs
    assert all(r["status"] == "stopped" for r in sweep_runs.get(history, "halt")["trials"])
    # A second stop of a sweep whose trials are all final changes nothing.
    assert set(sweep_runs.stop(history, "halt").values()) == {"stopped"}


def test_taken_sweep_or_run_names_are_refused_before_anything_starts(ready_workspace, history):
    plan = _plan(ready_workspace, "dup", {"training.seed": [1, 2]})
    history.create_run("dup-seed2", "train", {}, None)
    with pytest.raises(UserError, match="dup-seed2"):
        sweep_runs.start(plan, ready_workspace, history)
    assert sweep_runs.list_sweeps(history) == [] and history.get_run("dup-seed1") is None
    insert_sweep(history, "taken", [])
    with pytest.raises(UserError, match="'taken-2'"):
        sweep_runs.start(_plan(ready_workspace, "taken", {"training.seed": [1]}), ready_workspace, history)
    with pytest.raises(UserError, match="no sweep named 'nope'.*taken"):
        sweep_runs.results(history, "nope")


def test_results_follow_the_mode_skip_unscored_trials_and_read_evals(ready_workspace, history, tmp_path):
    trials = [
        ("a", {"training.lr": 1e-4, "model.n_layer": 2}, [(10, 3.0), (20, 2.5)]),
        ("b", {"training.lr": 1e-2, "model.n_layer": 4}, [(10, 2.0), (20, float("nan"))]),
        ("c", {"training.lr": 1e-3, "model.n_layer": 2}, []),
    ]
    insert_sweep(history, "s", trials, mode="max", metric="acc")
    history.log_eval("c", 20, "cloze", "acc", 2.8)
    result = sweep_runs.results(history, "s")
    assert {r["run"]: r["value"] for r in result["rows"]} == {"a": 3.0, "b": 2.0, "c": 2.8}
    assert result["best"] == "a" and result["params"] == ["training.lr", "model.n_layer"]
    insert_sweep(history, "m", trials[:2], mode="min", metric="acc")
    assert sweep_runs.results(history, "m")["best"] == "b"
    fig = sweep_plot.figure(result)
    best_traces = [t for t in fig.data if t.name == "best trial"]
    assert len(best_traces) == 2 and list(best_traces[0].text) == ["a"] and best_traces[0].marker.symbol == "star"
    assert fig.layout.xaxis.type == "log" and fig.layout.xaxis2.type != "log"
    assert "best: a" in fig.layout.title.text
    path = sweep_plot.write_html(result, tmp_path / "sw")
    html = path.read_text()
    assert path.name == "results.html" and "best trial" in html and "plotly" in html.lower()


def test_deleting_a_trial_run_drops_it_from_the_sweep(ready_workspace, history):
    insert_sweep(history, "d", [("x", {"training.lr": 1e-3}, [(1, 2.0)]), ("y", {"training.lr": 2e-3}, [])])
    history.delete_run("x")
    assert [t["run"] for t in sweep_runs.get(history, "d")["trials"]] == ["y"]


def insert_sweep(history, name, trials, mode="min", metric="eval_loss"):
    """A sweep whose trials are finished runs with the given metric series (no processes)."""
    with write_transaction(history.conn) as conn:
        conn.execute(
            "INSERT INTO sweeps (name, metric, mode, spec, sweep_dir, created) VALUES (?, ?, ?, '{}', ?, ?)",
            (name, metric, mode, str(history.db_path.parent / "sweeps" / name), time.time()),
        )
    sweep_id = history.conn.execute("SELECT id FROM sweeps WHERE name = ?", (name,)).fetchone()[0]
    for position, (run, params, series) in enumerate(trials):
        if history.get_run(run) is None:
            history.create_run(run, "train", {}, None)
            history.set_status(run, "finished")
        for step, value in series:
            history.log_metrics(run, step, {metric: value})
        with write_transaction(history.conn) as conn:
            conn.execute(
                "INSERT INTO sweep_trials (sweep_id, run_id, position, params) VALUES (?, ?, ?, ?)",
                (sweep_id, history.get_run(run).id, position, json.dumps(params)),
            )
