"""core.model.build: exact parameter counts from shapes, builds for every family, memory estimates."""

from __future__ import annotations

import pytest

from core import config
from core.model import build as models


@pytest.mark.parametrize(
    "family,extra",
    [
        ("Llama", []),
        ("Llama", ["model.tie_word_embeddings=true"]),
        ("GPT2", []),
        ("GPT2", ["model.tie_word_embeddings=true"]),
        ("GPTJ", []),
        ("GPTJ", ["model.tie_word_embeddings=true"]),
    ],
)
def test_count_matches_built_model(family, extra):
    cfg = config.load(
        overrides=[
            f"model.type={family}",
            "model.hidden_size=48",
            "model.n_head=4",
            "model.intermediate_size=96",
            "model.n_layer=2",
            *extra,
        ]
    )
    model = models.build_model(cfg.model, 300, device="meta")
    assert models.count_parameters(cfg.model, 300) == sum(p.numel() for p in model.parameters())


def test_built_model_runs_forward_and_saves(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    cfg = config.load(overrides=["model.hidden_size=32", "model.n_head=2", "model.intermediate_size=64", "model.n_layer=1"])
    model = models.build_model(cfg.model, 100)
    ids = torch.randint(0, 100, (2, 10))
    out = model(input_ids=ids, labels=ids)
    assert out.logits.shape == (2, 10, 100) and torch.isfinite(out.loss)
    model.save_pretrained(tmp_path)
    again = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert torch.equal(again(input_ids=ids).logits, model(input_ids=ids).logits)


def test_memory_estimate_grows_with_batch_and_halves_activations_in_16_bit():
    small = models.estimate_memory(config.load(overrides=["training.batch_size=8"]))
    big = models.estimate_memory(config.load(overrides=["training.batch_size=16"]))
    half = models.estimate_memory(config.load(overrides=["training.batch_size=8", "--bf16"]))
    assert big.activations > small.activations and big.weights == small.weights
    assert half.activations < small.activations
    assert small.optimizer == 2 * small.weights  # two fp32 AdamW moments per weight


def test_human():
    assert models.human(9_685_440) == "9.7M" and models.human(1500) == "1.5k" and models.human(12) == "12"
