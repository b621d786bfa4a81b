"""The Compare tab's BabyLM scoreboard: one row per evaluated run or checkpoint (run + step/revision),
one column per BabyLM task, and each task's score against words seen with the runs overlaid.

Not a tab: `build_scoreboard` is one line in the Compare builder. Read from the history's `evals`
rows (suite "babylm"), their results.json (revision, fast set) and the run's metrics (words seen).
"""

from __future__ import annotations

import functools
import json
from bisect import bisect_left
from pathlib import Path
from typing import NamedTuple

import gradio as gr
import pandas as pd

from core.history import TRAINING, History
from studio.context import StudioContext
from studio.plots import babylm_figure

SUITE = "babylm"
KEY_COLUMNS = ["run", "revision", "step", "words seen", "set"]
KINDS = TRAINING


class Entry(NamedTuple):
    """One evaluation of one run or checkpoint: its scores by task label."""

    run: str
    revision: str
    step: int | None
    words: int | None
    fast: bool
    time: float
    scores: dict


def _is_task(row: dict) -> bool:
    # Task rows carry the metric; the "<task>/<subtask>/field/<f>" rows beside them do not.
    return "metric" in (row.get("extra") or {})


def _eval_facts(eval_dir: str | None) -> tuple[str, bool]:
    """(revision, fast) of one evaluation, from its results.json; ("", False) when it is gone."""
    path = Path(eval_dir or "") / "results.json"
    if not eval_dir or not path.is_file():
        return "", False
    results = json.loads(path.read_text(encoding="utf-8"))
    layout = (results.get("suites", {}).get(SUITE) or {}).get("layout", "")
    parts = layout.split("/")  # results/<model>/<revision>/zero_shot/causal
    return (parts[2] if len(parts) > 2 else ""), bool((results.get("options") or {}).get("fast"))


def words_at(rows: list[dict], steps: list[int | None]) -> dict[int, int | None]:
    """Words seen at each step, from metric rows (step, words): exact, else interpolated between
    the logged steps around it, else the last logged count (an eval after the last logged step)."""
    points = sorted({r["step"]: r["words"] for r in rows if r.get("words") is not None}.items())
    xs = [s for s, _ in points]
    out: dict[int, int | None] = {}
    for step in (s for s in steps if s is not None):
        i = bisect_left(xs, step)
        if i < len(xs) and xs[i] == step:
            out[step] = points[i][1]
        elif 0 < i < len(xs):
            (s0, w0), (s1, w1) = points[i - 1], points[i]
            out[step] = round(w0 + (w1 - w0) * (step - s0) / (s1 - s0))
        else:
            out[step] = points[-1][1] if points and i == len(xs) else None
    return out


def run_entries(h: History, run: str) -> list[Entry]:
    """The BabyLM evaluations of one run, oldest first (rows grouped by their results folder)."""
    groups: dict[tuple, list[dict]] = {}
    for row in h.evals(run, SUITE):
        if _is_task(row):
            groups.setdefault((row["step"], row["extra"].get("eval_dir")), []).append(row)
    if not groups:
        return []
    steps = [step for step, _ in groups]
    known = [s for s in steps if s is not None]
    # Rows from the earliest evaluated step on: one indexed query, not the whole history.
    words = words_at(h.metrics_since(run, min(known) - 1), steps) if known else {}
    out = []
    for (step, eval_dir), rows in groups.items():
        revision, fast = _eval_facts(eval_dir)
        out.append(
            Entry(run, revision, step, words.get(step), fast, max(r["time"] for r in rows), {r["name"]: r["value"] for r in rows})
        )
    return sorted(out, key=lambda e: e.time)


def evaluated_runs(ctx: StudioContext) -> list[str]:
    """Training runs with at least one BabyLM evaluation, newest first."""
    with ctx.history() as h:
        return [r.name for r in h.list_runs() if r.kind in KINDS and h.evals(r.name, SUITE)]


def entries(ctx: StudioContext, runs: list[str] | None) -> list[Entry]:
    """The evaluations of `runs` (every run with BabyLM scores when none is given)."""
    names = list(runs or []) or evaluated_runs(ctx)
    with ctx.history() as h:
        return [e for name in names if h.get_run(name) is not None for e in run_entries(h, name)]


def scoreboard_table(found: list[Entry]) -> pd.DataFrame:
    """KEY_COLUMNS + one column per task label (in the order first seen), scores rounded; words seen
    written with thousands separators ("" when unknown)."""
    tasks = list(dict.fromkeys(label for e in found for label in e.scores))
    rows = [
        [
            e.run,
            e.revision or "main",
            e.step,
            "" if e.words is None else f"{e.words:,}",
            "fast" if e.fast else "full",
            *(None if e.scores.get(t) is None else round(e.scores[t], 3) for t in tasks),
        ]
        for e in found
    ]
    return pd.DataFrame(rows, columns=[*KEY_COLUMNS, *tasks])


def scoreboard(ctx: StudioContext, runs: list[str] | None):
    """(table, figure) of the BabyLM scoreboard for the selected runs (all evaluated ones if none)."""
    found = entries(ctx, runs)
    return scoreboard_table(found), babylm_figure([e._asdict() for e in found])


def build_scoreboard(ctx: StudioContext, selected: gr.Dropdown) -> tuple:
    """The scoreboard accordion; it follows Compare's run selection. Returns (table, plot)."""
    table, figure = scoreboard(ctx, [])
    with gr.Accordion("BabyLM scoreboard (official 2025 zero-shot suite)", open=not table.empty, elem_id="compare-babylm"):
        gr.Markdown(
            "One row per evaluated run or checkpoint (`babyllama eval RUN --suite babylm`, or the "
            "Evaluate tab); the selected runs, or every run with BabyLM scores when none is selected. "
            "Accuracy in %, WUG as Spearman rho."
        )
        refresh = gr.Button("Refresh scoreboard", size="sm", elem_id="compare-babylm-refresh")
        board = gr.Dataframe(table, interactive=False, label="BabyLM scoreboard", elem_id="compare-babylm-table")
        plot = gr.Plot(figure, label="BabyLM scores against words seen", elem_id="compare-babylm-plot")
    handler = functools.partial(scoreboard, ctx)
    # No triggers: on every page load (an evaluation may have finished since) and selection change.
    gr.on(None, handler, [selected], [board, plot], show_progress="hidden", api_visibility="private")
    refresh.click(handler, selected, [board, plot], api_name="babylm_scoreboard")
    return board, plot
