"""core.evaluate.generation: diversity, repetition, confidence, consistency; prompt files; speed."""

from __future__ import annotations

import pytest
import torch

from core.errors import UserError
from core.evaluate import generation as g
from core.evaluate.speed import speed_by_batch
from core.generate import SamplingParams, generate, prepare_prompt


def test_distinct_n_pools_samples():
    assert g.distinct_n(["a b a b"], 1) == 0.5
    assert g.distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)
    assert g.distinct_n(["a b", "a b"], 2) == 0.5  # the same bigram in two samples counts once
    assert g.distinct_n(["one"], 3) == 0.0


def test_repeated_ngrams_and_jaccard():
    assert g.repeated_ngrams("the cat sat the cat sat the cat") == (3, 6)
    assert g.repeated_ngrams("a b c d e") == (0, 3)
    assert g.jaccard("The cat, the dog.", "the DOG and the cat") == pytest.approx(3 / 4)
    assert g.jaccard("", "") == 1.0 and g.jaccard("a", "") == 0.0


def test_prompt_files(tmp_path, tiny):
    model, tok = tiny
    good = tmp_path / "p.txt"
    good.write_text("Once upon a time\n\n  The little cat  \n", encoding="utf-8")
    assert g.read_prompts(good, model, tok) == ["Once upon a time", "The little cat"]
    empty = tmp_path / "e.txt"
    empty.write_text("\n \n", encoding="utf-8")
    with pytest.raises(UserError, match="holds no prompts"):
        g.read_prompts(empty, model, tok)
    long = tmp_path / "l.txt"
    long.write_text("short\n" + "word " * 300 + "\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"l.txt:2: the prompt is \d+ tokens, as long as the model's context \(64\)"):
        g.read_prompts(long, model, tok)


def test_top_token_probs_are_the_models_own(tiny):
    model, tok = tiny
    params = SamplingParams(temperature=0.0, repetition_penalty=1.0, max_new_tokens=6)
    result = generate(model, tok, "The dog", params)
    prompt = prepare_prompt(model, tok, "The dog", 6).ids
    probs = g.top_token_probs(model, prompt, result.tokens)
    assert len(probs) == len(result.tokens) and all(0 < p <= 1 for p in probs)
    # Greedy: each generated token is the argmax, so its probability is the top probability.
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([prompt + result.tokens])).logits[0].float()
    own = [torch.softmax(logits[len(prompt) - 1 + i], -1)[t].item() for i, t in enumerate(result.tokens)]
    assert probs == pytest.approx(own, abs=1e-5)


def test_generation_metrics_and_consistency(tiny):
    model, tok = tiny
    out = g.generation_metrics(model, tok, ["Once upon a time", "The cat"], SamplingParams(max_new_tokens=12, seed=3))
    for key in ("distinct_1", "distinct_2", "distinct_3", "repeated_3gram_rate", "mean_top_token_prob"):
        assert 0.0 <= out[key] <= 1.0, key
    assert out["tokens_per_s"] > 0 and out["n_prompts"] == 2 and len(out["samples"]) == 2
    again = g.generation_metrics(model, tok, ["Once upon a time", "The cat"], SamplingParams(max_new_tokens=12, seed=3))
    assert [s["text"] for s in again["samples"]] == [s["text"] for s in out["samples"]]  # seeded
    same = g.consistency(model, tok, [("The dog ran", "The dog ran"), ("A cat", "The moon")], max_new_tokens=8)
    assert same["pairs"][0]["jaccard"] == 1.0 and same["n"] == 2  # identical prompts, greedy


def test_speed_by_batch_reports_each_size(tiny):
    model, _ = tiny
    out = speed_by_batch(model, batch_sizes=(1, 4), prompt_tokens=8, new_tokens=4)
    assert [r["batch_size"] for r in out["by_batch"]] == [1, 4]
    for row in out["by_batch"]:
        assert row["prefill_tokens_per_s"] > 0 and row["gen_tokens_per_s"] > 0
        assert row["gen_ms_per_token"] == pytest.approx(1000 / row["gen_tokens_per_s"])
    with pytest.raises(UserError):
        speed_by_batch(model, batch_sizes=(0,))
