"""core.generate.batch: left-padded rows through `decode_steps` give the same greedy tokens as one\nprompt at a time."""

from __future__ import annotations

import pytest
import torch

from core import config
from core import generate as gen
from core.generate.batch import pad_left
from core.generate.sampling import prepare_prompt
from core.model import build as models

CTX = 64
PROMPTS = ["the cat sat on the mat and", "a dog", "once upon a time there was a little girl who liked", "", "the ball is red"]


@pytest.fixture(scope="module", params=["Llama", "GPT2"])
def tiny(request, data_template):
    from core.tokenizer import load_tokenizer

    tok = load_tokenizer("tok", data_template)
    cfg = config.load(
        overrides=[
            f"model.type={request.param}",
            "model.hidden_size=32",
            "model.n_head=2",
            "model.intermediate_size=64",
            "model.n_layer=2",
            f"model.max_position_embeddings={CTX}",
            "data.seq_length=32",
        ]
    )
    torch.manual_seed(4)
    return models.build_model(cfg.model, len(tok)).eval(), tok


def _batched_greedy(model, tok, prompts: list[str], params) -> list[list[int]]:
    """Every prompt prepared as `generate` prepares it, left-padded into one `decode_steps` run."""
    prepared = [prepare_prompt(model, tok, p, params.max_new_tokens) for p in prompts]
    ids, mask = pad_left([p.ids for p in prepared], tok.pad_token_id, model.device)
    limits = [p.max_new_tokens for p in prepared]
    rows, ended = [[] for _ in prompts], [False] * len(prompts)
    for step in gen.decode_steps(
        model,
        ids,
        params,
        budget=max(limits),
        attention_mask=mask,
        eos_id=tok.eos_token_id,
        pad_id=tok.pad_token_id,
        limits=limits,
    ):
        for i, token in enumerate(step):
            if not ended[i] and token != tok.eos_token_id:
                rows[i].append(token)
            ended[i] = ended[i] or token == tok.eos_token_id or len(rows[i]) >= limits[i]
    return rows


def test_pad_left_puts_every_last_token_in_the_last_column():
    ids, mask = pad_left([[5, 6, 7], [8], []], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [0, 0, 8], [0, 0, 0]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1], [0, 0, 0]]


@pytest.mark.parametrize("penalty", [1.0, 1.3])
def test_batched_greedy_equals_one_at_a_time(tiny, penalty):
    model, tok = tiny
    params = gen.SamplingParams(temperature=0, max_new_tokens=20, repetition_penalty=penalty)
    batched = _batched_greedy(model, tok, PROMPTS, params)
    single = [gen.generate(model, tok, p, params) for p in PROMPTS]
    assert batched == [s.tokens for s in single] and any(batched)


def test_rows_keep_their_own_context_cap(tiny):
    model, tok = tiny
    long_prompt = " ".join(["the dog ran to the park"] * 20)
    params = gen.SamplingParams(temperature=0, max_new_tokens=40)
    batched = _batched_greedy(model, tok, [long_prompt[:150], "a dog"], params)
    single = [gen.generate(model, tok, p, params) for p in (long_prompt[:150], "a dog")]
    assert batched == [s.tokens for s in single]
    assert single[0].n_prompt_tokens + len(batched[0]) <= CTX and "capped" in single[0].notes[0]


def test_eos_ends_only_its_own_row(tiny):
    model, tok = tiny
    params = gen.SamplingParams(temperature=0, max_new_tokens=12, repetition_penalty=1.0)
    first = gen.generate(model, tok, PROMPTS[0], params)
    ids, mask = pad_left([tok(p, add_special_tokens=False)["input_ids"] for p in PROMPTS[:2]], 0)
    eos = first.tokens[3]  # pretend the first row's 4th token is end-of-text
    steps = list(gen.decode_steps(model, ids, params, budget=12, attention_mask=mask, eos_id=eos, pad_id=0))
    row0 = [s[0] for s in steps]
    assert row0[:4] == first.tokens[:4] and all(t == 0 for t in row0[4:])
    row1 = [s[1] for s in steps]
    single1 = list(gen.iter_tokens(model, ids[1, mask[1].bool()].tolist(), params, eos_id=eos))
    assert row1[: len(single1)] == single1
