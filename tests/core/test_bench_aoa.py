"""core.bench.aoa: batched AoA surprisal vs the official one-context-at-a-time loop, agreeing or no ratio."""

from __future__ import annotations

from core.bench import aoa as bench
from core.evaluate import pairs
from tests.core.evaluate import babylm_fixtures as fx


def _items(tmp_path, limit=20):
    data = fx.write_evaluation_data(tmp_path)
    return bench.items_from_pairs(pairs.load_pairs_dir(data / "full_eval" / "blimp_filtered", 0), limit=limit)


def test_batched_and_official_loop_agree_and_give_a_ratio(tmp_path):
    contexts, words = _items(tmp_path)
    assert len(contexts) == 17 and all(c and " " not in w for c, w in zip(contexts, words))
    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=True)
    model = fx.make_model(len(tok))
    out = bench.bench_aoa(model, tok, contexts, words, batch_size=16, rounds=1)
    assert out["same"] and out["max_surprisal_diff"] <= bench.AGREE and out["contexts"] == 17
    assert out["ratio"] == out["batched_contexts_per_s"] / out["official_contexts_per_s"] > 0
    assert "AoA surprisal (17 contexts)" in bench.report_line(out, 5.0)


def test_no_ratio_when_the_sides_disagree(tmp_path, monkeypatch):
    contexts, words = _items(tmp_path)
    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=True)
    model = fx.make_model(len(tok))
    real = bench.official_loop
    monkeypatch.setattr(bench, "official_loop", lambda *a: [v + 0.5 for v in real(*a)])
    out = bench.bench_aoa(model, tok, contexts, words, batch_size=16, rounds=1)
    assert not out["same"] and out["ratio"] is None and "no ratio" in bench.report_line(out, 5.0)
