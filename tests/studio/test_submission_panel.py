"""The Evaluate tab's Submission section: the coloured part x revision table and the scoreboard from
the collated file, read by the handlers without a browser; bad input starts nothing."""
from __future__ import annotations

import tests.core.submission.fixtures as fx
from core.submission.collate import collate
from core.submission.plan import make_plan
from studio.context import StudioContext
from studio.tabs import submission as panel
from tests.core.submission.test_plan import SCALE, fake_run


class _Parts:
    status, table, board = "status", "table", "board"


def test_table_and_board_from_parts_and_the_collated_file(workspace, history, tmp_path):
    data = fx.write_data(tmp_path)
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
    collate(make_plan("r", "strict-small", str(data), workspace, history, SCALE), log=lambda m: None)
    board = panel.show(ctx, "r", "strict-small", str(data), SCALE, _Parts)["board"]
    assert "not collated yet" not in board and board.count("<tr>") == 20 and "reading spr" in board


def test_bad_input_starts_nothing(workspace, history, tmp_path):
    ctx = StudioContext(workspace)
    assert "Run: choose" in panel.start(ctx, None, "strict-small", str(tmp_path), 1, _Parts)["status"]
    out = panel.show(ctx, "ghost", "strict-small", str(tmp_path), 1, _Parts)["status"]
    assert "--babylm-data" in out and "full_eval/ and fast_eval/" in out
    assert history.list_runs(kind="submission") == []
