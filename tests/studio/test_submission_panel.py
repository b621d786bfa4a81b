"""The Evaluate tab's Submission section: the coloured part x revision table (done / running /
missing), the scoreboard from the collated file and `main`'s row with every task column, and the
button that starts what is missing, read by the handlers without a browser; bad input starts nothing."""

from __future__ import annotations

import json
import os
import time

import pytest

import tests.core.submission.fixtures as fx
from core.submission.collate import collate
from core.submission.plan import make_plan
from core.submission.run import log_hand_in_scores
from studio.context import StudioContext
from studio.panels import submission as panel
from tests.core.submission.test_plan import SCALE, _own_start, fake_run


class _Parts:
    status, table, board = "status", "table", "board"


def test_table_and_board_from_parts_and_the_collated_file(workspace, history, tmp_path):
    data = fx.write_data(tmp_path)
    fx.official_layout(data)
    run_dir = fake_run(workspace, history, "r", fx.STRICT_SMALL)
    parts = run_dir / "submission" / "parts"
    for rev in fx.STRICT_SMALL:
        fx.write_part(parts / f"fast-{rev}", "r", rev, "fast", data, seed=len(rev))
    for kind in ("full", "aoa", "glue"):
        fx.write_part(parts / f"{kind}-main", "r", "main", kind, data)
    ctx = StudioContext(workspace)
    before = panel.show(ctx, "r", "strict-small", str(data), SCALE, _Parts)
    assert "22 done" in before["status"] and "1 missing" in before["status"]
    assert before["table"].count("<tr>") == 24 and "background:#2e7d32'>done" in before["table"]
    assert "not collated yet" in before["board"]
    plan = make_plan("r", "strict-small", str(data), workspace, history, SCALE)
    logged = []
    log_hand_in_scores(plan, collate(plan, log=lambda m: None), logged.append)
    assert logged[-1].startswith("calculate_results_from_pred.py's table for this hand-in:\n###### RESULTS ######"), logged
    board = panel.show(ctx, "r", "strict-small", str(data), SCALE, _Parts)["board"]
    fast, main = board.split("<table class='submission-main'>")
    main, hand_in = main.split("<table class='submission-hand-in'>")
    assert "not collated yet" not in fast and fast.count("<tr>") == 20 and "reading spr" in fast
    assert main.count("<tr>") == 2 and "<td>main</td>" in main  # the fixture's parts hold no scores: ·
    assert hand_in.count("<th>") == 11 and "<th>ENTITY TRACKING</th>" in hand_in and hand_in.count("<td>") == 11


def test_bad_input_starts_nothing(workspace, history, tmp_path):
    ctx = StudioContext(workspace)
    assert "Run: choose" in panel.start(ctx, None, "strict-small", str(tmp_path), 1, _Parts)["status"]
    out = panel.show(ctx, "ghost", "strict-small", str(tmp_path), 1, _Parts)["status"]
    assert "--babylm-data" in out and "full_eval/ and fast_eval/" in out
    assert history.list_runs(kind="submission") == []


def _main_results(out, suite: str, body: dict) -> None:
    (out / "results.json").write_text(json.dumps({"suites": {suite: body}}), encoding="utf-8")


def test_running_parts_and_main_row_with_every_task_column(workspace, history, tmp_path):
    data = fx.write_data(tmp_path)
    run_dir = fake_run(workspace, history, "r", fx.STRICT_SMALL)
    parts = run_dir / "submission" / "parts"
    full = fx.write_part(parts / "full-main", "r", "main", "full", data)
    _main_results(
        full,
        "babylm",
        {
            "scoreboard": {
                "blimp/blimp_filtered": 61.25,
                "comps/comps": 55.0,
                "reading/reading_eye": 0.0123,
                "reading/reading_spr": float("nan"),
            }
        },
    )
    aoa = fx.write_part(parts / "aoa-main", "r", "main", "aoa", data)
    _main_results(aoa, "aoa", {"score": 0.4321})
    history.create_run("g1", "eval", {"output": str(parts / "glue-main")}, tmp_path / "g1")
    history.set_status("g1", "running", pid=os.getpid(), pid_started=_own_start(), heartbeat=time.time())
    out = panel.show(StudioContext(workspace), "r", "strict-small", str(data), SCALE, _Parts)
    assert "1 running" in out["status"] and "background:#0277bd'>running</td><td>g1" in out["table"]
    main = out["board"][out["board"].index("submission-main") :]
    heads = [h.split("</th>")[0] for h in main.split("<th>")[2:]]
    assert heads == [
        "blimp_filtered",
        "supplement_filtered",
        "ewok_filtered",
        "entity_tracking",
        "wug_adj_nominalization",
        "wug_past_tense",
        "comps",
        "reading_eye",
        "reading_spr",
        "curve_fitness",
        "boolq",
        "mnli",
        "mrpc",
        "multirc",
        "qqp",
        "rte",
        "wsc",
    ]
    cells = [c.split("</td>")[0].split(">")[-1] for c in main.split("<td")[2:]]
    assert cells == ["61.250", "·", "·", "·", "·", "·", "55.000", "0.012", "·", "0.432", *["running"] * 7]
    assert [c for c in panel.main_columns() if c[0] == "glue"] == [("glue", "glue", t) for t in fx.GLUE]


@pytest.mark.slow
def test_start_makes_what_is_missing_as_the_cli_job(workspace, history, tmp_path):
    """The button starts the `submission` job; it starts the one missing part (the export) as its own
    job, which fails here (the fake run has no model), and the table then shows it failed."""
    from core import jobs
    from core.history import FINAL

    data = fx.write_data(tmp_path)
    run_dir = fake_run(workspace, history, "r", fx.STRICT_SMALL)
    parts = run_dir / "submission" / "parts"
    for rev in fx.STRICT_SMALL:
        fx.write_part(parts / f"fast-{rev}", "r", rev, "fast", data)
    for kind in ("full", "aoa", "glue"):
        fx.write_part(parts / f"{kind}-main", "r", "main", kind, data)
    ctx = StudioContext(workspace)
    started = panel.start(ctx, "r", "strict-small", str(data), SCALE, _Parts)["status"]
    job = started.split("`")[1]
    assert f"babyllama submission r --track strict-small --babylm-data {data} --word-scale 0.0001" in started
    deadline = time.monotonic() + 180
    while jobs.refresh(history, job).status not in FINAL and time.monotonic() < deadline:
        time.sleep(0.5)
    exports = [r for r in history.list_runs(kind="export")]
    assert len(exports) == 1 and exports[0].config["output"] == str(run_dir.resolve() / "submission" / "export")
    assert history.get_run(job).status == "failed"
    table = panel.show(ctx, "r", "strict-small", str(data), SCALE, _Parts)["table"]
    assert f"<td>export</td><td>main</td><td style='color:#fff;background:#c62828'>failed</td><td>{exports[0].name}" in table
