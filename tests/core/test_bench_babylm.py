"""core.bench.babylm: the BabyLM suite batched vs one candidate at a time, same decisions or no ratio."""

from __future__ import annotations

from core.bench import babylm as bench
from core.evaluate.babylm import suite
from tests.core.evaluate import babylm_fixtures as fx


def test_batched_and_single_agree_and_give_a_ratio(tmp_path):
    data = fx.write_evaluation_data(tmp_path)
    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=True)
    model = fx.make_model(len(tok))
    out = bench.bench_babylm(model, tok, suite.plan(data), batch_size=16, rounds=1)
    assert out["same_decisions"] and out["max_score_diff"] <= bench.AGREE
    assert out["candidates"] == 2 * (6 + 3 + 3 + 3 + 2) + 3 * 4  # every candidate of every task
    assert out["ratio"] == out["batched_candidates_per_s"] / out["single_candidates_per_s"] > 0


def test_no_ratio_when_the_sides_disagree(tmp_path, monkeypatch):
    data = fx.write_evaluation_data(tmp_path)
    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=True)
    model = fx.make_model(len(tok))
    real = bench._score

    def skewed(model, encoded, plan, batch_size):
        seconds, scores = real(model, encoded, plan, batch_size)
        if batch_size == 1:  # one side flips every first candidate's score
            scores = [[v - 100.0 if i % 2 == 0 else v for v in row] for i, row in enumerate(scores)]
        return seconds, scores

    monkeypatch.setattr(bench, "_score", skewed)
    out = bench.bench_babylm(model, tok, suite.plan(data), batch_size=16, rounds=1)
    assert not out["same_decisions"] and out["ratio"] is None


def test_exact_and_fast_are_timed_side_by_side(tmp_path):
    from core.bench.eval import _exact_line

    data = fx.write_evaluation_data(tmp_path)
    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=True)
    model = fx.make_model(len(tok))
    out = bench.bench_babylm(model, tok, suite.plan(data), batch_size=16, rounds=1)
    assert out["exact_candidates_per_s"] > 0
    assert out["fast_vs_exact"] == out["fast_candidates_per_s"] / out["exact_candidates_per_s"]
    # Random weights, no near-ties: the two arithmetics decide alike and agree to float32 rounding.
    assert out["exact_differing_decisions"] == 0 and out["exact_max_score_diff"] <= bench.AGREE
    assert "BabyLM exact" in _exact_line(out) and "decisions that differ: 0" in _exact_line(out)


def test_no_exact_vs_fast_ratio_when_their_decisions_differ(tmp_path, monkeypatch):
    from core.bench.eval import _exact_line

    data = fx.write_evaluation_data(tmp_path)
    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=True)
    model = fx.make_model(len(tok))
    real = bench._score_fast

    def flipped(model, encoded, plan, batch_size):
        seconds, scores = real(model, encoded, plan, batch_size)
        return seconds, [[v + 100.0 if i % 2 == 1 else v for v in row] for i, row in enumerate(scores)]

    monkeypatch.setattr(bench, "_score_fast", flipped)
    out = bench.bench_babylm(model, tok, suite.plan(data), batch_size=16, rounds=1)
    assert out["exact_differing_decisions"] > 0 and out["fast_vs_exact"] is None
    assert "no ratio" in _exact_line(out) and out["fast_candidates_per_s"] > 0
