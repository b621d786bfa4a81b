"""core.bench.submission: the strict-small evaluation per checkpoint, the pipeline's loops vs ours;
a ratio only when every part agrees (a skewed part gives none and the CLI exits 1)."""

from __future__ import annotations

import json

import pytest

from core.bench import aoa as aoa_bench
from core.bench import submission
from core.bench.submission_data import write_fast_eval
from core.cli import main
from core.errors import UserError
from core.evaluate.babylm import suite
from core.workspace import Workspace

TINY = dict(preset="tiny", checkpoints=2, items=2, reading_rows=30, aoa_contexts=8, batch_size=8, device="cpu", threads=1)


def test_synthetic_fast_eval_reads_as_the_official_tasks(tmp_path):
    data = write_fast_eval(tmp_path, items=3, aoa_contexts=7)
    plan = suite.plan(data.root, fast=True)
    assert sorted(t.label for t in plan.tasks) == [
        "blimp/blimp_fast",
        "blimp/supplement_fast",
        "entity_tracking/entity_tracking_fast",
        "ewok/ewok_fast",
        "wug_adj/wug_adj_nominalization",
    ]
    assert sum(len(t.items) for t in plan.tasks) == 3 * 6 and not plan.warnings
    assert len(data.aoa_contexts) == len(data.aoa_words) == 7
    assert all(len(c.split()) >= 3 and w.isalpha() for c, w in zip(data.aoa_contexts, data.aoa_words))


def test_ratio_only_when_every_part_agrees(tmp_path):
    r = submission.run_submission_bench(submission.SubmissionBenchOptions(**TINY), Workspace(tmp_path / "ws"), log=lambda m: None)
    assert r["agree"] and not r["problems"] and r["same_decisions"] and r["same_report"]
    assert r["reading_max_diff"] <= submission.READING_AGREE and r["aoa_max_diff"] <= submission.AOA_AGREE
    assert r["ratio"] == pytest.approx(r["total_s"]["pipeline"] / r["total_s"]["ours"])
    for side in ("pipeline", "ours"):
        assert set(r["seconds"][side]) == set(submission.PARTS)
        assert r["total_s"][side] == pytest.approx(sum(r["seconds"][side].values()))
        assert r["per_checkpoint"][side]["aoa"] == pytest.approx(r["seconds"][side]["aoa"] / 2)
    text = submission.format_report(r)
    assert "ratio (pipeline total / ours)" in text and "2 checkpoints measured" in text


def test_no_ratio_and_exit_1_when_aoa_disagrees(tmp_path, monkeypatch, capsys):
    real = aoa_bench.official_loop
    monkeypatch.setattr(aoa_bench, "official_loop", lambda *a: [v + 0.01 for v in real(*a)])
    argv = ["bench", "submission", "--workspace", str(tmp_path / "ws"), "--json"]
    for key in ("preset", "checkpoints", "items", "reading_rows", "aoa_contexts", "batch_size", "device", "threads"):
        argv += [f"--{key.replace('_', '-')}", str(TINY[key])]
    assert main(argv) == 1
    r = json.loads(capsys.readouterr().out)
    assert r["ratio"] is None and r["aoa_max_diff"] > submission.AOA_AGREE
    assert r["problems"] == [f"AoA: surprisals differ by more than {submission.AOA_AGREE:g} nats"]
    assert "no ratio: AoA" in submission.format_report(r)


def test_too_few_reading_rows_names_the_flag(tmp_path):
    opts = submission.SubmissionBenchOptions(**{**TINY, "reading_rows": 5})
    with pytest.raises(UserError, match="--reading-rows"):
        submission.run_submission_bench(opts, Workspace(tmp_path / "ws"), log=lambda m: None)
