"""The studio at scale (issue 14): a workspace of 21 finished runs and 1.8M generated metric rows
(one 100k-step run of 600k rows), no training. The Train and Compare handlers keep what a browser
session holds small, and every metrics query the runs table and `runs list` make seeks an index.

Before this test's change the Train tab's state held every row of the run as a dict (about
1 KB each with its key: 0.6 GB for the big run, per session) and `last_metrics` scanned all the
run's rows; both asserts below fail there.
"""

from __future__ import annotations

import argparse
import gc
import sqlite3
import tracemalloc

import gradio as gr
import pytest

import core.history.store
from core.cli import train_cmds
from studio.context import StudioContext
from studio.curves import CAP, Curves
from studio.tabs import compare
from studio.tabs import train as tab
from studio.tabs import train_dashboard as dashboard
from tests.studio.scale_data import fill_workspace, spike_step

pytestmark = pytest.mark.slow

BIG_STEPS = 100_000
SESSION_BUDGET = 50 * 2**20  # the goal: at most 50 MB more server memory per session
STATE_BUDGET = 4 * 2**20  # what stays in gr.State once the tick returned


@pytest.fixture(scope="module")
def scale_ws(tmp_path_factory):
    from core.workspace import Workspace

    ws = Workspace(tmp_path_factory.mktemp("scale") / "ws").ensure()
    made = fill_workspace(ws, big_steps=BIG_STEPS)
    assert len(made["runs"]) == 21 and made["rows"] > 1_800_000
    return ws, made["runs"]


def _measured(fn, *args):
    """(result, peak bytes allocated during the call above what was live before)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        result = fn(*args)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return result, peak


def _retained(fn):
    """Bytes still allocated after `fn()` returned and its result beyond what it keeps was dropped."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        kept = fn()
        gc.collect()
        return kept, tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()


def test_train_tab_session_state_is_small_on_a_600k_row_run(scale_ws):
    ws, runs = scale_ws
    ctx = StudioContext(ws)
    with gr.Blocks():
        d = tab.build(ctx).dash
    out, peak = _measured(dashboard.tick, ctx, runs[0], None, "step", d)
    cache, figure = out[d.cache], out[d.plot]
    assert isinstance(cache, Curves) and cache.last_step == BIG_STEPS
    assert peak < SESSION_BUDGET, f"first tick allocated {peak / 2**20:.1f} MB at its peak"
    assert cache.nbytes() < STATE_BUDGET and all(len(c["step"]) <= 2 * CAP for c in cache.series.values())
    kept, retained = _retained(lambda: dashboard.tick(ctx, runs[0], None, "step", d)[d.cache])
    assert retained < STATE_BUDGET, f"a session keeps {retained / 2**20:.1f} MB"
    # Downsampled but faithful: the loss spike at 60 % and the last step are in the figure.
    loss = next(t for t in figure.data if t.name == "loss")
    assert len(loss.x) <= 2000 and max(loss.y) > 7.0 and spike_step(BIG_STEPS) in loss.x and loss.x[-1] == BIG_STEPS
    # The next tick of the same session fetches only the last step again.
    again = dashboard.tick(ctx, runs[0], cache, "tokens", d)
    assert again[d.cache] is cache and again[d.cache].points() == cache.points()


def test_compare_overlay_and_table_stay_small(scale_ws):
    ws, runs = scale_ws
    ctx = StudioContext(ws)
    figure, peak = _measured(compare.overlay, ctx, runs[:3], "loss", "step", 0.0)
    assert [len(t.x) for t in figure.data][0] <= 2000 and len(figure.data) == 3
    assert peak < SESSION_BUDGET, f"overlay allocated {peak / 2**20:.1f} MB at its peak"
    table, peak = _measured(compare.runs_table, ctx)
    assert len(table) == 21 and peak < SESSION_BUDGET
    assert table.iloc[-1]["best eval loss"] != "" and table.iloc[-1]["tokens seen"] != ""


def _traced_statements(monkeypatch) -> list[tuple[sqlite3.Connection, str]]:
    """Every SQL statement any History opened from now on runs, with its connection."""
    seen: list[tuple[sqlite3.Connection, str]] = []
    real = core.history.store.connect

    def tracing(path):
        conn = real(path)
        conn.set_trace_callback(lambda sql, conn=conn: seen.append((conn, sql)))
        return conn

    monkeypatch.setattr(core.history.store, "connect", tracing)
    return seen


def test_runs_list_and_the_runs_table_seek_indexes(scale_ws, monkeypatch, capsys, tmp_path):
    ws, runs = scale_ws
    seen = _traced_statements(monkeypatch)
    assert train_cmds._cmd_list(argparse.Namespace(workspace=str(ws.root), json=True)) == 0
    assert '"loss": 2.' in capsys.readouterr().out
    compare.runs_table(StudioContext(ws))
    on_metrics = {sql for _, sql in seen if " metrics " in f" {sql} " and sql.lstrip().upper().startswith(("SELECT", "WITH"))}
    assert on_metrics, "no metrics query was traced"
    check = sqlite3.connect(ws.db_path)
    try:
        for sql in on_metrics:
            plan = " | ".join(row[3] for row in check.execute("EXPLAIN QUERY PLAN " + sql))
            assert "SCAN metrics" not in plan and "SEARCH metrics USING" in plan, (sql, plan)
    finally:
        check.close()
