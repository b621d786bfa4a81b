"""End to end: a tiny run with scaled-down word marks, then `babyllama submission --word-scale`
with official-format fixture data: 19 fast parts (zero-shot + reading) and the full part run as
real eval jobs, the export as a real export job; AoA and GLUE are fixture part files (their suites
take minutes even at this size and have their own end-to-end tests). A part that comes out short
stops the chain, naming it; the collated file passes the pipeline's checks."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import tests.core.submission.fixtures as fx
from tests.core.submission.pipeline_check import check_collated

MARKS = "100,200,300,400,500,600,700,800,900,1k,2k,3k,4k,5k,6k,7k,8k,9k,10k"


def _cli(*argv, check=True):
    proc = subprocess.run([sys.executable, "-m", "core.cli", *argv], capture_output=True, text=True, timeout=1500)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.slow
def test_submission_of_a_tiny_run(ready_workspace, tmp_path):
    ws = ready_workspace
    data = fx.write_data(tmp_path)
    fx.official_layout(data)
    _cli(
        "train",
        "--config",
        "tiny",
        "--model_name=sub",
        "data.train_path=syn",
        "data.tokenizer_path=tok",
        "training.max_steps=60",
        "training.eval_steps=0",
        "training.save_steps=0",
        f"training.checkpoint_words={MARKS}",
    )
    run_dir = ws.models_dir / "sub"
    parts = run_dir / "submission" / "parts"
    for kind in ("aoa", "glue"):
        fx.write_part(parts / f"{kind}-main", "sub", "main", kind, data)
    common = ["sub", "--track", "strict-small", "--babylm-data", str(data), "--word-scale", "0.0001"]

    status = _cli("submission", *common, "--status").stdout
    assert "2 done" in status and "21 missing" in status and "missing checkpoint" not in status

    out = _cli("submission", *common).stdout
    main = parts / "full-main" / "results" / "sub" / "main" / "zero_shot" / "causal"
    assert (main / "blimp" / "blimp_filtered" / "predictions.json").is_file()
    assert (main / "reading" / "report.txt").read_text().startswith("EYE TRACKING SCORE: ")
    assert (
        parts
        / "fast-chck_100M"
        / "results"
        / "sub"
        / "chck_100M"
        / "zero_shot"
        / "causal"
        / "ewok"
        / "ewok_fast"
        / "predictions.json"
    ).is_file()
    assert (run_dir / "submission" / "export" / "export.json").is_file()
    collated = run_dir / "submission" / "results" / "sub" / "all_full_preds_and_fast_scores_causal.json"
    assert str(collated) in out
    assert "23 done" in _cli("submission", *common, "--status").stdout  # a rerun would start nothing

    # A part made but incomplete is named, and nothing is collated over it.
    (parts / "fast-chck_1M" / "results" / "sub" / "chck_1M" / "zero_shot" / "causal" / "reading" / "predictions.json").unlink()
    proc = _cli("submission", *common, "--collate-only", check=False)
    assert proc.returncode == 2 and "reading/predictions.json" in proc.stderr and "chck_1M" in proc.stderr, proc.stderr
    fx_reading = fx.official_files("sub", "chck_1M", "reading", data)
    for rel, text in fx_reading.items():
        target = parts / "fast-chck_1M" / "results" / "sub" / "chck_1M" / rel
        if not target.exists():
            target.write_text(text, encoding="utf-8")
    _cli("submission", *common, "--collate-only")
    sizes = {key: {} for key in fx.FOLDERS}
    for key, (_, folder) in fx.FOLDERS.items():
        for uid, *_ in fx.read_items(data / "full_eval" / folder, key):
            sizes[key][uid.lower()] = sizes[key].get(uid.lower(), 0) + 1
    sizes["reading"] = {"reading": len(fx.reading_rows())}
    sizes.update({t: {t: 3 + k} for k, t in enumerate(fx.GLUE)})
    assert check_collated(collated, sizes, fx.STRICT_SMALL, aoa_size=5) == []
    scores = json.loads(collated.read_text())["fast_eval_results"]["blimp"]
    assert len(scores) == 19 and all(0 <= v <= 1 for s in scores for v in s.values())

    # The pipeline's own scorer, on the predictions handed in, gives the full eval's own averages.
    table = _cli("submission", *common, "--scores").stdout
    assert table.startswith("###### RESULTS ######") and "\nGLUE\t\t" in table
    hand_in = {s["label"]: s["value"] for s in json.loads((run_dir / "submission" / "hand_in_scores.json").read_text())}
    board = json.loads((parts / "full-main" / "results.json").read_text())["suites"]["babylm"]["scoreboard"]
    for label, key in [("BLIMP", "blimp/blimp_filtered"), ("EWOK", "ewok/ewok_filtered"), ("COMPS", "comps/comps")]:
        assert hand_in[label] == pytest.approx(board[key]), (label, hand_in, board)
    assert hand_in["WUG ADJ"] == pytest.approx(100 * board["wug_adj/wug_adj_nominalization"])
