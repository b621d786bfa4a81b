"""core.evaluate.pairs: BLiMP files, BabyLM scoring, batching that changes nothing, a model that learns."""

from __future__ import annotations

import json

import pytest
import torch

from core.errors import UserError
from core.evaluate import pairs, scoring
from core.evaluate.scoring import context_token, encode_sentences, model_context, sequence_logprobs

SUBSET = 12  # pairs per paradigm in the default tests: all 6 real paradigms, quickly


def _write(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_reads_blimp_sample(shared_data):
    paradigms = pairs.load_pairs_dir(shared_data / "blimp-sample", SUBSET)
    assert len(paradigms) == 6 and all(len(p.pairs) == SUBSET for p in paradigms)
    agreement = next(p for p in paradigms if p.name == "anaphor_gender_agreement")
    assert agreement.field == "morphology" and agreement.term == "anaphor_agreement"
    assert agreement.pairs[0] == ("Katherine can't help herself.", "Katherine can't help himself.")
    assert len(pairs.load_paradigm(shared_data / "blimp-sample" / "anaphor_gender_agreement.jsonl").pairs) == 1000


@pytest.mark.parametrize(
    "rows, message",
    [
        ([], "no pairs in it"),
        ([{"sentence_good": "A b.", "sentence_bad": "B a."}, "{not json"], r":2: not valid JSON"),
        ([{"sentence_good": "A b.", "sentence_bad": "B a."}, "", {"sentence_good": "x"}], r":3: missing or empty 'sentence_bad'"),
        (['["a list"]'], r":1: expected a JSON object"),
    ],
)
def test_bad_files_name_the_line(tmp_path, rows, message):
    path = _write(tmp_path / "p.jsonl", rows)
    with pytest.raises(UserError, match=message) as err:
        pairs.load_pairs_dir(tmp_path)
    assert str(path) in str(err.value)


def test_folder_errors(tmp_path):
    with pytest.raises(UserError, match="holds no .jsonl"):
        pairs.load_pairs_dir(tmp_path)
    with pytest.raises(UserError, match="not a folder"):
        pairs.load_pairs_dir(tmp_path / "missing")


def test_context_token_is_bos_for_tokenizers_that_add_it_else_eos(tiny, tmp_path):
    from tests.core.evaluate.babylm_fixtures import make_tokenizer

    _, tok = tiny
    # Tokenizers trained here add <s> and training starts every document with it.
    assert context_token(tok) == tok.bos_token_id
    assert encode_sentences(tok, ["the cat"], ["x"], None)[0][0] == tok.bos_token_id
    # Older ones (no BOS): training put EOS between documents, so EOS precedes a first word.
    old = make_tokenizer(tmp_path / "old", add_bos=False)
    assert context_token(old) == old.eos_token_id


def test_batched_equals_one_at_a_time_for_every_pair(shared_data, tiny):
    model, tok = tiny
    paradigms = pairs.load_pairs_dir(shared_data / "blimp-sample", SUBSET)
    sentences = [s for p in paradigms for pair in p.pairs for s in pair]
    seqs = encode_sentences(tok, sentences, ["x"] * len(sentences), model_context(model))
    assert len({len(s) for s in seqs}) > 3  # lengths differ, so batches are padded
    single = sequence_logprobs(model, seqs, batch_size=1)
    batched = sequence_logprobs(model, seqs, batch_size=16)
    assert max(abs(a - b) for a, b in zip(single, batched)) < 1e-4
    assert [g > b for g, b in zip(single[0::2], single[1::2])] == [g > b for g, b in zip(batched[0::2], batched[1::2])]
    one = pairs.score_pairs(model, tok, paradigms, batch_size=1)
    many = pairs.score_pairs(model, tok, paradigms, batch_size=16)
    assert {k: v["accuracy"] for k, v in one["paradigms"].items()} == {k: v["accuracy"] for k, v in many["paradigms"].items()}


def test_sums_follow_the_babylm_definition(tiny):
    """Summed log-probs of the sentence's tokens after the context token, from a plain forward pass."""
    model, tok = tiny
    ids = [tok.eos_token_id] + tok("The dog runs.", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
    expected = sum(logp[i, ids[i + 1]].item() for i in range(len(ids) - 1))
    assert sequence_logprobs(model, [ids])[0] == pytest.approx(expected, abs=1e-4)


def test_mean_is_unweighted_over_paradigms(tmp_path, tiny, monkeypatch):
    model, tok = tiny
    _write(
        tmp_path / "a.jsonl",
        [{"sentence_good": f"good {i}", "sentence_bad": f"bad {i}", "UID": "a", "field": "f1"} for i in range(3)],
    )
    _write(tmp_path / "b.jsonl", [{"sentence_good": "good", "sentence_bad": "bad", "UID": "b", "field": "f2"}])
    paradigms = pairs.load_pairs_dir(tmp_path)
    # (good, bad) scores in file order: the first pair of `a` is wrong, the rest right.
    fake = [-5.0, -1.0, 0.0, -1.0, 0.0, -1.0, 0.0, -1.0]
    monkeypatch.setattr(scoring, "sequence_logprobs", lambda model, seqs, batch_size: list(fake))
    out = pairs.score_pairs(model, tok, paradigms)
    assert out["paradigms"]["a"]["accuracy"] == pytest.approx(2 / 3) and out["paradigms"]["b"]["accuracy"] == 1.0
    assert out["mean"] == pytest.approx((2 / 3 + 1) / 2)  # not 3/4 (pair-weighted)
    assert out["fields"] == {"f1": pytest.approx(2 / 3), "f2": 1.0}


def test_sentence_longer_than_context_is_a_user_error(tmp_path, tiny):
    model, tok = tiny
    _write(tmp_path / "long.jsonl", [{"sentence_good": "word " * 200, "sentence_bad": "short"}])
    with pytest.raises(UserError, match=r"long.jsonl:1 sentence_good: \d+ tokens, longer than the model's context"):
        pairs.score_pairs(model, tok, pairs.load_pairs_dir(tmp_path))


def test_a_model_trained_on_good_sentences_prefers_them(shared_data, tmp_path):
    """Hand-built case: train on the GOOD sentences of 800 pairs; the 200 held-out pairs score well."""
    from transformers import AutoModelForCausalLM

    from core import config
    from core.config.presets import find
    from core.tokenizer import load_tokenizer, train_tokenizer
    from core.train.loop import TrainData, train
    from core.train.machine import make_accelerator

    paradigm = pairs.load_paradigm(shared_data / "blimp-sample" / "determiner_noun_agreement_1.jsonl")
    (tmp_path / "good.txt").write_text("\n".join(g for g, _ in paradigm.pairs) + "\n", encoding="utf-8")
    train_tokenizer(tmp_path / "good.txt", tmp_path / "tok", vocab_size=400, progress=False)
    tok = load_tokenizer(tmp_path / "tok")
    ids = [
        t
        for good, _ in paradigm.pairs[:800]
        for t in tok(good + "\n", add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ]
    blocks = torch.tensor(ids[: len(ids) // 32 * 32]).view(-1, 32)
    cfg = config.load(
        find("tiny"),
        [
            "data.seq_length=32",
            "training.max_steps=150",
            "training.batch_size=16",
            "training.eval_steps=0",
            "training.save_steps=0",
            "training.lr=3e-3",
            "training.warmup_steps=10",
            "training.logging_steps=50",
        ],
    )
    assert train(cfg, TrainData(blocks, None), tok, tmp_path / "run", [], accelerator=make_accelerator(cfg)[0]) == "finished"
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "run").eval()
    held_out = pairs.Paradigm(paradigm.name, paradigm.path, pairs=paradigm.pairs[800:], lines=paradigm.lines[800:])
    assert pairs.score_pairs(model, tok, [held_out])["mean"] >= 0.7  # chance is 0.5; measured 0.81


def test_results_record_their_rule_beside_the_official_one(shared_data, tiny):
    model, tok = tiny
    out = pairs.score_pairs(model, tok, pairs.load_pairs_dir(shared_data / "blimp-sample", 2))
    assert out["rule"] == {
        "rule": "pairs (lm-eval style)",
        "tokenizer_adds_bos": True,
        "context_token": "<s>",
        "first_token_scored": True,
        "tie_rule": "a tie counts as wrong (the good sentence must score higher)",
    }
