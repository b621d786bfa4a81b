"""core.generate: finding a run's model, our KV-cached sampler against transformers, seeds, truncation."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from core import config
from core import generate as gen
from core.errors import UserError
from core.model import build as models
from core.workspace import Workspace

CTX = 64


def _save_tiny(folder, family: str, tokenizer, seed: int) -> None:
    cfg = config.load(
        overrides=[
            f"model.type={family}",
            "model.hidden_size=32",
            "model.n_head=2",
            "model.intermediate_size=64",
            "model.n_layer=2",
            f"model.max_position_embeddings={CTX}",
            "data.seq_length=32",
        ]
    )
    torch.manual_seed(seed)
    model = models.build_model(cfg.model, len(tokenizer))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


@pytest.fixture(scope="module")
def ws(tmp_path_factory, data_template):
    """A workspace with run `llama` (final model) and run `gpt2` (checkpoints only)."""
    from core.tokenizer import load_tokenizer

    ws = Workspace(tmp_path_factory.mktemp("gen") / "ws").ensure()
    shutil.copytree(data_template.tokenizers_dir, ws.tokenizers_dir, dirs_exist_ok=True)
    tok = load_tokenizer("tok", ws)
    _save_tiny(ws.run_dir("llama"), "Llama", tok, seed=1)
    _save_tiny(ws.run_dir("gpt2") / "checkpoint-10", "GPT2", tok, seed=2)
    _save_tiny(ws.run_dir("gpt2") / "checkpoint-20", "GPT2", tok, seed=3)
    (ws.run_dir("gpt2") / "checkpoint-30").mkdir()  # no weights: must be skipped
    (ws.run_dir("gpt2") / "config.yaml").write_text("model: {}\n")
    return ws


@pytest.fixture(scope="module")
def llama(ws):
    return gen.load_model("llama", ws, device="cpu")


@pytest.fixture(scope="module")
def gpt2(ws):
    return gen.load_model("gpt2", ws, device="cpu")


PROMPT = "the cat sat on the mat and"


def test_run_name_loads_the_final_model(ws, llama):
    model, tok = llama
    assert type(model).__name__ == "LlamaForCausalLM" and not model.training
    assert gen.resolve_model("llama", ws) == ws.run_dir("llama")
    assert len(tok) == model.config.vocab_size


def test_run_without_final_model_uses_newest_checkpoint_with_weights(ws, gpt2):
    assert gen.resolve_model("gpt2", ws) == ws.run_dir("gpt2") / "checkpoint-20"
    assert type(gpt2[0]).__name__ == "GPT2LMHeadModel"
    # A checkpoint folder given by path (relative to the workspace) loads that checkpoint.
    assert gen.resolve_model("models/gpt2/checkpoint-10", ws) == ws.run_dir("gpt2") / "checkpoint-10"
    assert gen.resolve_model(ws.run_dir("gpt2") / "checkpoint-10", ws) == ws.run_dir("gpt2") / "checkpoint-10"


def test_folders_that_are_not_models_raise_user_errors(ws):
    with pytest.raises(UserError, match="holds no model"):
        gen.load_model(ws.tokenizer_dir("tok"), ws)
    with pytest.raises(UserError, match="no run or folder"):
        gen.load_model("nope", ws)
    odd = ws.root / "vision"
    odd.mkdir()
    (odd / "config.json").write_text(json.dumps({"model_type": "vit"}))
    (odd / "model.safetensors").write_bytes(b"\0" * 16)
    with pytest.raises(UserError, match="not a causal language model"):
        gen.load_model("vision", ws)


def test_same_seed_same_text_different_seed_different_text(llama):
    model, tok = llama
    params = gen.SamplingParams(max_new_tokens=24, seed=7)
    before = torch.get_rng_state()
    first = gen.generate(model, tok, PROMPT, params)
    assert torch.equal(torch.get_rng_state(), before)  # a private generator, not the global RNG
    assert gen.generate(model, tok, PROMPT, params).tokens == first.tokens
    other = gen.generate(model, tok, PROMPT, gen.SamplingParams(max_new_tokens=24, seed=8))
    assert other.tokens != first.tokens
    assert first.n_new_tokens == len(first.tokens) == 24 and first.text
    assert first.n_prompt_tokens == len(tok(PROMPT, add_special_tokens=False)["input_ids"])
    assert first.tokens_per_s > 0 and first.stop_reason == "length" and first.notes == []


@pytest.mark.parametrize("which", ["llama", "gpt2"])
@pytest.mark.parametrize("penalty", [1.0, 1.3])
def test_greedy_matches_transformers_generate(which, penalty, request):
    model, tok = request.getfixturevalue(which)
    ids = tok(PROMPT, add_special_tokens=False, return_tensors="pt")["input_ids"]
    hf = model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        do_sample=False,
        max_new_tokens=20,
        repetition_penalty=penalty,
        pad_token_id=tok.pad_token_id,
    )
    expected = hf[0, ids.shape[1] :].tolist()
    if tok.eos_token_id in expected:
        expected = expected[: expected.index(tok.eos_token_id)]
    ours = gen.generate(model, tok, PROMPT, gen.SamplingParams(temperature=0, max_new_tokens=20, repetition_penalty=penalty))
    assert ours.tokens == expected


def test_top_k_one_is_greedy(gpt2):
    model, tok = gpt2
    greedy = gen.generate(model, tok, PROMPT, gen.SamplingParams(temperature=0, max_new_tokens=16))
    top1 = gen.generate(model, tok, PROMPT, gen.SamplingParams(temperature=1.5, top_k=1, max_new_tokens=16, seed=3))
    assert top1.tokens == greedy.tokens


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    params = gen.SamplingParams(temperature=1.0, top_k=0, top_p=0.8, repetition_penalty=1.0)
    kept = torch.isfinite(gen.next_token_scores(logits, torch.zeros(4, dtype=torch.bool), params))
    assert kept.tolist() == [True, True, False, False]
    seen = torch.tensor([True, False, False, False])
    penalised = gen.next_token_scores(
        torch.tensor([2.0, 1.0, -1.0, 0.0]), seen, gen.SamplingParams(temperature=1.0, top_k=0, top_p=1.0, repetition_penalty=2.0)
    )
    assert penalised.tolist() == [1.0, 1.0, -1.0, 0.0]


def test_stream_grows_to_generate_text(llama):
    model, tok = llama
    params = gen.SamplingParams(max_new_tokens=20, seed=5)
    steps = gen.stream(model, tok, PROMPT, params)
    parts = [next(steps)]
    # Between tokens the consumer is not left inside torch.inference_mode (Gradio resumes
    # generators on other threads; tensors made here must stay normal tensors).
    assert not torch.is_inference_mode_enabled()
    parts += list(steps)
    assert len(parts) >= 10 and parts[-1] == gen.generate(model, tok, PROMPT, params).text
    assert all(later.startswith(earlier.rstrip()) for earlier, later in zip(parts, parts[1:]))


def test_long_prompts_keep_their_last_tokens_and_fit_the_context(llama):
    model, tok = llama
    long_prompt = " ".join(["the dog ran to the park and saw a bird"] * 30)
    all_ids = tok(long_prompt, add_special_tokens=False)["input_ids"]
    assert len(all_ids) > CTX
    prepared = gen.prepare_prompt(model, tok, long_prompt, 16)
    assert prepared.ids == all_ids[-(CTX - 16) :] and prepared.max_new_tokens == 16
    result = gen.generate(model, tok, long_prompt, gen.SamplingParams(max_new_tokens=16))
    assert result.n_prompt_tokens == CTX - 16 and result.n_new_tokens == 16
    assert "truncated" in result.notes[0]
    # A prompt that fits keeps every token; the new-token budget is capped instead.
    short = gen.prepare_prompt(model, tok, long_prompt[:120], 200)
    assert short.ids == tok(long_prompt[:120], add_special_tokens=False)["input_ids"]
    assert len(short.ids) + short.max_new_tokens == CTX and "capped" in short.notes[0]


def test_stop_strings_and_eos_end_generation(llama):
    model, tok = llama
    free = gen.generate(model, tok, PROMPT, gen.SamplingParams(temperature=0, max_new_tokens=24))
    stop = free.text[6:9]
    cut = gen.generate(model, tok, PROMPT, gen.SamplingParams(temperature=0, max_new_tokens=24, stop=[stop]))
    assert cut.text == free.text[: free.text.index(stop)] and cut.stop_reason == "stop"
    ids = tok(PROMPT, add_special_tokens=False)["input_ids"]
    params = gen.SamplingParams(temperature=0, max_new_tokens=24)
    assert list(gen.iter_tokens(model, ids, params, eos_id=free.tokens[0])) == []


def test_empty_prompt_starts_after_end_of_text(llama):
    model, tok = llama
    result = gen.generate(model, tok, "", gen.SamplingParams(max_new_tokens=8))
    assert result.n_prompt_tokens == 1 and result.n_new_tokens == 8


def test_sampling_params_report_every_problem_at_once():
    with pytest.raises(UserError) as err:
        gen.SamplingParams(temperature=-1, top_p=0, max_new_tokens=0, top_k=2.5)
    message = str(err.value)
    assert "4 problems" in message
    for name in ("temperature", "top_p", "max_new_tokens", "top_k"):
        assert name in message
    coerced = gen.SamplingParams(top_k=40.0, max_new_tokens=12.0, stop="\n")
    assert coerced.top_k == 40 and isinstance(coerced.top_k, int) and coerced.stop == ("\n",)
