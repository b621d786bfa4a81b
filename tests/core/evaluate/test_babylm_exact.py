"""The BabyLM suite's exact mode (the pipeline's batches and float32 sums) against the pipeline's
arithmetic re-implemented in `babylm_reference` (no `core` import), and candidates longer than
the trained context (rotary: scored as a plain forward pass; learned positions: a named error)."""

from __future__ import annotations

import json
import random

import pytest
import torch

from core.errors import UserError
from core.evaluate.babylm import results as res
from core.evaluate.babylm import scorer, suite
from tests.core.evaluate import babylm_fixtures as fx
from tests.core.evaluate import babylm_reference as ref

WORDS = "the girl boy dog cat saw ran sat on mat ball table box cup kind rose animal flower fish robin".split()


def _near_tie_blimp(folder, n: int = 120):
    """Pairs of 8-word sentences, one pair of neighbours swapped: equal token counts, so with a
    near-uniform model every pair is a near-tie that float32 and float64 sums can decide apart."""
    rng = random.Random(0)
    rows = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(8)]
        swapped = list(words)
        j = rng.randrange(7)
        swapped[j], swapped[j + 1] = swapped[j + 1], swapped[j]
        rows.append(
            {
                "sentence_good": " ".join(words) + ".",
                "sentence_bad": " ".join(swapped) + ".",
                "field": "syntax",
                "UID": f"uid_{i % 3}",
                "linguistics_term": "order",
            }
        )
    folder.mkdir(parents=True)
    (folder / "order.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def flat_lm(tmp_path_factory):
    """A tiny Llama whose output layer is scaled down 1000x: near-uniform next-token distributions."""
    tok = fx.make_tokenizer(tmp_path_factory.mktemp("tok"), add_bos=True)
    model = fx.make_model(len(tok))
    with torch.no_grad():
        model.lm_head.weight.mul_(1e-3)
    return model, tok


@pytest.mark.parametrize("batch", [64, 16])
def test_exact_files_equal_the_pipelines_float32_batches_on_a_near_tie(tmp_path, flat_lm, batch):
    model, tok = flat_lm
    folder = _near_tie_blimp(tmp_path / "blimp_filtered")
    items = ref.read_items(folder, "blimp")
    expected = ref.candidate_scores(model, tok, items, [1.0], batch_size=batch)
    official = ref.evaluate(items, expected, [1.0], "blimp")
    the_plan = suite.plan(folder)
    exact = suite.run(model, tok, the_plan, log=lambda m: None, exact=True, exact_batch=batch)
    fast = suite.run(model, tok, the_plan, log=lambda m: None, exact=False)
    base = "results/model/main/zero_shot/causal/blimp/blimp_filtered"
    assert exact["_files"][f"{base}/best_temperature_report.txt"] == official["report"]
    assert json.loads(exact["_files"][f"{base}/predictions.json"]) == official["predictions"]
    # The fixture has teeth: float64 sums over other batches decide at least one near-tie otherwise.
    assert fast["_files"][f"{base}/predictions.json"] != exact["_files"][f"{base}/predictions.json"]
    assert exact["rule"]["exact"] is True and "float32" in exact["rule"]["arithmetic"]
    assert fast["rule"]["exact"] is False and "float64" in fast["rule"]["arithmetic"]


def test_exact_wug_probabilities_equal_the_pipelines_bit_for_bit(tmp_path):
    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=False)
    model = fx.make_model(len(tok), seed=5)
    rng = random.Random(1)
    rows = []
    for i in range(70):  # two pipeline batches of 64 items
        stem = "".join(rng.choice("bdgklmnprstvz") + rng.choice("aeiou") for _ in range(3))
        rows.append(
            {"sentences": f"It is {stem}. Its {stem}ness is clear.\tIt is {stem}. Its {stem}ity is clear.", "ratio": rng.random()}
        )
    folder = tmp_path / "wug_adj_nominalization"
    folder.mkdir()
    (folder / "wug_adj_nominalization.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = ref.read_items(folder, "wug_adj")
    temps = [1.0, 1.5]
    expected = ref.candidate_scores(model, tok, items, temps, batch_size=64)
    official = ref.evaluate(items, expected, temps, "wug_adj", batch_size=64)
    out = suite.run(model, tok, suite.plan(folder, temperatures="1,1.5"), log=lambda m: None, exact=True)
    base = "results/model/main/zero_shot/causal/wug_adj/wug_adj_nominalization"
    assert out["_files"][f"{base}/predictions.json"] == json.dumps(official["predictions"])
    assert out["_files"][f"{base}/best_temperature_report.txt"] == official["report"]


def test_exact_refuses_a_batch_with_different_candidate_counts(tmp_path, flat_lm):
    model, tok = flat_lm
    folder = tmp_path / "entity_tracking"
    folder.mkdir()
    rows = [
        {"input_prefix": "Box 1 contains the", "options": [" key.", " cup."], "numops": 0},
        {"input_prefix": "Box 2 contains the", "options": [" key.", " cup.", " hat."], "numops": 0},
    ]
    (folder / "regular.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(
        UserError,
        match=r"entity_tracking/entity_tracking: items regular_0_ops_0 .*regular_0_ops_1"
        r".*--no-exact",
    ):
        suite.run(model, tok, suite.plan(folder), log=lambda m: None, exact=True)
    assert suite.run(model, tok, suite.plan(folder), log=lambda m: None, exact=False)["tasks"]


def _long_entity(folder, words: int = 60):
    prefix = " ".join(["Box 1 contains the key and the cup."] * (words // 8)) + " Box 1 contains the"
    folder.mkdir(parents=True)
    rows = [
        {"input_prefix": "Box 2 contains the", "options": [" key.", " cup."], "numops": 0},
        {"input_prefix": prefix, "options": [" key.", " map."], "numops": 1},
    ]
    (folder / "regular.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder, prefix


@pytest.mark.parametrize("exact", [True, False])
def test_a_candidate_past_the_trained_context_is_scored_as_a_plain_forward_pass(tmp_path, exact):
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=True)
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tok),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=16,
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=0,
        )
    ).eval()
    folder, prefix = _long_entity(tmp_path / "entity_tracking")
    out = suite.run(model, tok, suite.plan(folder), log=lambda m: None, exact=exact, trained_context=16)
    (long_item,) = [
        json.loads(line)
        for line in out["_files"]["babylm_scores/entity_tracking/entity_tracking.jsonl"].splitlines()
        if line.startswith('{"id": "regular_1_ops_0"')
    ]
    plain = []
    with torch.no_grad():
        for option in (" key.", " map."):
            enc = tok(prefix + option, return_offsets_mapping=True)
            ids = torch.tensor([enc["input_ids"]])
            assert ids.shape[1] - 1 > 16 * 3  # far past both the trained context and max_position_embeddings
            start = len(prefix)
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1], -1).gather(1, ids[0, 1:, None])[:, 0]
            plain.append(sum(lp for lp, (_, end) in zip(logp.tolist(), enc["offset_mapping"][1:]) if end > start))
    assert long_item["scores"] == pytest.approx(plain, abs=1e-5)
    assert long_item["pred"] == res.first_argmax(plain)
    assert out["tasks"]["entity_tracking/entity_tracking"]["past_trained_context"] == 2
    assert out["past_trained_context"] == 2 and out["trained_context"] == 16


@pytest.mark.parametrize("family", ["GPT2", "GPTJ"])
def test_learned_positions_name_the_task_item_and_fix(tmp_path, family):
    import transformers

    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=True)
    common = dict(
        vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=16, bos_token_id=1, eos_token_id=2, pad_token_id=0
    )
    model = (
        transformers.GPT2LMHeadModel(transformers.GPT2Config(**common))
        if family == "GPT2"
        else transformers.GPTJForCausalLM(transformers.GPTJConfig(rotary_dim=16, **common))
    ).eval()
    assert scorer.position_limit(model) == 16
    folder, _ = _long_entity(tmp_path / "entity_tracking")
    for exact in (True, False):
        with pytest.raises(
            UserError,
            match=r"entity_tracking/entity_tracking: item regular_1_ops_0 \(candidate 0\) "
            r"needs \d+ positions.*up to 16.*longer context or rotary",
        ):
            suite.run(model, tok, suite.plan(folder), log=lambda m: None, exact=exact)


@pytest.mark.parametrize("family", ["Llama", "GPT2", "GPTJ"])
def test_fast_path_logits_of_scored_positions_equal_the_full_forward(tmp_path, family):
    import transformers

    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=True)
    torch.manual_seed(0)
    common = dict(vocab_size=len(tok), bos_token_id=1, eos_token_id=2, pad_token_id=0)
    gpt = dict(n_embd=32, n_layer=2, n_head=2, n_positions=64, **common)
    model = {
        "Llama": lambda: fx.make_model(len(tok)),
        "GPT2": lambda: transformers.GPT2LMHeadModel(transformers.GPT2Config(**gpt)),
        "GPTJ": lambda: transformers.GPTJForCausalLM(transformers.GPTJConfig(rotary_dim=16, **gpt)),
    }[family]().eval()
    sentences = ["Box 1 contains the key and the cup.", "The cat sat.", "A robin can fly."]
    encoded = scorer.encode_all(tok, sentences, [s[-4:] for s in sentences])
    ours = scorer.score_all(model, encoded, [1.0, 2.0], batch_size=3)  # one padded batch
    with torch.no_grad():
        for e, row in zip(encoded, ours):
            ids = torch.tensor([e.tokens])
            logits = model(input_ids=ids).logits[0, :-1]
            for t, temp in enumerate([1.0, 2.0]):
                logp = torch.log_softmax(logits / temp, -1).gather(1, ids[0, 1:, None])[:, 0]
                assert row[t] == pytest.approx(sum(v for v, s in zip(logp.tolist(), e.scored[1:]) if s), abs=1e-5)


@pytest.mark.parametrize("family", ["Llama", "GPT2", "GPTJ"])
def test_shared_prefixes_score_as_whole_candidates(tmp_path, family):
    import transformers

    from core.evaluate.babylm import prefix

    data = fx.write_evaluation_data(tmp_path)
    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=True)
    torch.manual_seed(0)
    gpt = dict(
        vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=128, bos_token_id=1, eos_token_id=2, pad_token_id=0
    )
    model = {
        "Llama": lambda: fx.make_model(len(tok)),
        "GPT2": lambda: transformers.GPT2LMHeadModel(transformers.GPT2Config(**gpt)),
        "GPTJ": lambda: transformers.GPTJForCausalLM(transformers.GPTJConfig(rotary_dim=16, **gpt)),
    }[family]().eval()
    the_plan = suite.plan(data)
    sentences = [s for t in the_plan.tasks for it in t.items for s in it.sentences]
    completions = [c for t in the_plan.tasks for it in t.items for c in it.completions]
    flat = iter(scorer.encode_all(tok, sentences, completions))
    items = [[next(flat) for _ in it.sentences] for t in the_plan.tasks for it in t.items]
    uniques = [list(dict.fromkeys(cands)) for cands in items]
    shared = [u for u in uniques if len(u) > 1 and prefix.shared_length(u) * (len(u) - 1) >= 4]
    assert len(shared) >= 5  # EWoK, entity tracking, COMPS, WUG items go through the prefix path
    ours = prefix.score_items(model, items, TEMPS_ALL, batch_size=5, min_saved=4)
    whole = [scorer.score_all(model, cands, TEMPS_ALL, batch_size=1) for cands in items]
    for i, (got, want) in enumerate(zip(ours, whole)):
        for g, w in zip(got, want):
            assert g == pytest.approx(w, abs=1e-5), i
        for t in range(len(TEMPS_ALL)):
            assert res.first_argmax([c[t] for c in got]) == res.first_argmax([c[t] for c in want]), i
    tie = next(cands for cands in items if cands[0] == cands[1])
    assert ours[items.index(tie)][0] == ours[items.index(tie)][1]  # identical candidates: an exact tie


TEMPS_ALL = [1.0, 1.7]
