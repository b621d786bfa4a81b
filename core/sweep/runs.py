"""Running sweeps: queue every trial of a `SweepPlan` as a training run, link the runs to the sweep
in the history (`sweeps` + `sweep_trials`, migration 0002_sweeps), read the results, stop them.

Each trial is an ordinary queued run (`jobs.start("train"|"distill", ...)`): the queue runs them one at a
time and the studio and `babyllama runs` see them like any run. Must not import gradio or torch.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

import yaml

from core import jobs
from core.config.resolve import run_parent
from core.errors import UserError
from core.history import FINAL, History, Run
from core.history.schema import to_json, write_transaction
from core.sweep.spec import SweepPlan, Trial
from core.workspace import Workspace

SPEC_FILE = "sweep.yaml"  # the sweep spec as run (base resolved to a path): a valid --config
TRIALS_FILE = "trials.json"  # every planned trial's name, values and overrides
PLOT_FILE = "results.html"  # the metric against each parameter (written by `babyllama sweep show`)


def sweep_dir(ws: Workspace, name: str) -> Path:
    return ws.root / "sweeps" / name


def trial_command(plan: SweepPlan, trial: Trial) -> str:
    """The `babyllama train ...` command that starts the same run as the trial."""
    return jobs.format_command(["babyllama", "train", "--config", str(plan.base), *trial.overrides, "--model_name", trial.name])


def free_name(history: History, base: str) -> str:
    """`base` if no sweep has it, else base-2, base-3, ..."""
    taken = {row["name"] for row in _rows(history, "SELECT name FROM sweeps")}
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def check_free(plan: SweepPlan, ws: Workspace, history: History) -> None:
    """Refuse, before anything starts, a taken sweep name, taken trial names or existing folders."""
    if _rows(history, "SELECT 1 FROM sweeps WHERE name = ?", (plan.name,)):
        raise UserError(f"--name: a sweep named {plan.name!r} already exists; try {free_name(history, plan.name)!r}")
    taken = [t.name for t in plan.trials if history.get_run(t.name) or (run_parent(t.config, ws) / t.name).exists()]
    if taken:
        raise UserError(
            f"--name: runs (or folders) named {', '.join(taken[:5])} already exist; "
            f"give the sweep another name, e.g. --name {free_name(history, plan.name + '-2')}"
        )
    if sweep_dir(ws, plan.name).exists():
        raise UserError(f"{sweep_dir(ws, plan.name)} already exists and belongs to no sweep; pick another --name")


def start(plan: SweepPlan, ws: Workspace, history: History, *, command: str = "", backend=None) -> dict:
    """Write the sweep's folder and row, then queue every trial as a training run; returns `get()`.
    With a SLURM `backend` the trials go out as one job array (`core.backends.scheduled`)."""
    check_free(plan, ws, history)
    folder = sweep_dir(ws, plan.name)
    folder.mkdir(parents=True)
    # sweep.yaml is a valid sweep file again (`babyllama sweep --config it --name NEW` reruns it).
    spec = {**plan.spec, "name": plan.name, "base": str(plan.base), "overrides": plan.overrides}
    (folder / SPEC_FILE).write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    planned = [{"name": t.name, "params": t.params, "overrides": t.overrides} for t in plan.trials]
    (folder / TRIALS_FILE).write_text(json.dumps(planned, indent=1), encoding="utf-8")
    with write_transaction(history.conn) as conn:
        conn.execute(
            "INSERT INTO sweeps (name, metric, mode, spec, sweep_dir, command, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (plan.name, plan.metric, plan.mode, to_json(plan.spec), str(folder), command, time.time()),
        )
    sweep_id = _sweep(history, plan.name)["id"]
    held = dataclasses.replace(backend, hold=True) if backend is not None else None
    runs: list[Run] = []
    for position, trial in enumerate(plan.trials):
        # A trial is a training run, or a distillation when the base names teachers.
        run = jobs.start(
            jobs.training_kind(trial.config),
            trial.config,
            ws,
            history,
            name=trial.name,
            command=trial_command(plan, trial),
            backend=held,
        )
        with write_transaction(history.conn) as conn:
            conn.execute(
                "INSERT INTO sweep_trials (sweep_id, run_id, position, params) VALUES (?, ?, ?, ?)",
                (sweep_id, run.id, position, json.dumps(trial.params)),
            )  # keeps key order
        runs.append(run)
    if held is not None:
        from core.backends import scheduled

        scheduled.submit_array(
            history,
            [r.name for r in runs],
            [Path(r.run_dir) for r in runs],
            held.cluster,
            folder / "slurm",
            job_name=plan.name,
        )
    return get(history, plan.name)


def get(history: History, name: str) -> dict:
    """The sweep row (spec parsed) with its `trials`: run name, status, step, params (in order)."""
    sweep = _sweep(history, name)
    sweep["spec"] = json.loads(sweep["spec"])
    rows = _rows(
        history,
        "SELECT r.name AS run, r.status, r.step, r.total_steps, r.backend, r.scheduler_job, "
        "r.scheduler_state, t.position, t.params "
        "FROM sweep_trials t JOIN runs r ON r.id = t.run_id WHERE t.sweep_id = ? "
        "ORDER BY t.position",
        (sweep["id"],),
    )
    for row in rows:
        row["params"] = json.loads(row["params"])
        if row["status"] not in FINAL:
            fresh = jobs.refresh(history, row["run"])  # a dead worker is `lost`; a job's queue state is new
            row.update(
                status=fresh.status, step=fresh.step, scheduler_job=fresh.scheduler_job, scheduler_state=fresh.scheduler_state
            )
    sweep["trials"] = rows
    return sweep


def list_sweeps(history: History) -> list[dict]:
    """Every sweep, newest first: name, metric, mode, created, trials and a count per status."""
    out = []
    for row in _rows(history, "SELECT name FROM sweeps ORDER BY created DESC, id DESC"):
        sweep = get(history, row["name"])
        counts: dict[str, int] = {}
        for trial in sweep["trials"]:
            counts[trial["status"]] = counts.get(trial["status"], 0) + 1
        out.append(
            {
                "name": sweep["name"],
                "metric": sweep["metric"],
                "mode": sweep["mode"],
                "created": sweep["created"],
                "trials": len(sweep["trials"]),
                "statuses": counts,
            }
        )
    return out


def results(history: History, name: str) -> dict:
    """The sweep with each trial's metric (its best value by `mode`) and the best trial.

    Returns {name, metric, mode, sweep_dir, params: [keys], rows: [{run, status, step, params,
    value, value_step, best}], best: run name or None}. The metric is read from the run's logged
    metrics, else from its `evals` rows of that name (e.g. an evaluation suite's score). While
    trials run (their rows refreshed by `get`), `best` is the best so far.
    """
    sweep = get(history, name)
    pick = min if sweep["mode"] == "min" else max
    rows = []
    for trial in sweep["trials"]:
        points = [(s, v) for s, v in history.metric_series(trial["run"], sweep["metric"]) if _finite(v)]
        if not points:
            evals = history.evals(trial["run"])
            points = [(e["step"], e["value"]) for e in evals if e["name"] == sweep["metric"] and _finite(e["value"])]
        step, value = pick(points, key=lambda p: p[1]) if points else (None, None)
        rows.append({**trial, "value": value, "value_step": step, "best": False})
    scored = [r for r in rows if r["value"] is not None]
    best = pick(scored, key=lambda r: r["value"]) if scored else None
    if best is not None:
        best["best"] = True
    keys = list(dict.fromkeys(k for r in rows for k in r["params"]))
    return {
        "name": sweep["name"],
        "metric": sweep["metric"],
        "mode": sweep["mode"],
        "sweep_dir": sweep["sweep_dir"],
        "params": keys,
        "rows": rows,
        "best": best["run"] if best else None,
    }


def stop(history: History, name: str) -> dict[str, str]:
    """Ask every queued or running trial to stop (queued ones end `stopped` before starting);
    returns run -> what happened ("requested", "killed" or the final status it already had)."""
    return {trial["run"]: jobs.stop(trial["run"], history) for trial in get(history, name)["trials"]}


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def _sweep(history: History, name: str) -> dict:
    rows = _rows(history, "SELECT * FROM sweeps WHERE name = ?", (name,))
    if not rows:
        known = ", ".join(r["name"] for r in _rows(history, "SELECT name FROM sweeps ORDER BY id DESC LIMIT 10"))
        raise UserError(f"no sweep named {name!r} (sweeps: {known or 'none yet'}); see `babyllama sweep list`")
    return rows[0]


def _rows(history: History, sql: str, params: tuple = ()) -> list[dict]:
    cursor = history.conn.execute(sql, params)
    keys = [d[0] for d in cursor.description]
    return [dict(zip(keys, row)) for row in cursor.fetchall()]
