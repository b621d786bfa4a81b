"""One decoding step of a plain Llama (one new token per row) straight through the model's own
weights, without transformers' per-call work (module hooks, decorators, config lookups, mask
building): the same operations in the same order, so the same numbers. Used by core.generate's
loop after transformers' own forward pass over the prompt; must not import gradio or studio.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fast_decoder(model) -> LlamaStep | None:
    """A LlamaStep for a plain Llama in eval mode with SDPA attention and one key/value head per
    query head; None for anything else (the caller then runs transformers' forward)."""
    cfg = model.config
    plain = (
        getattr(cfg, "model_type", "") == "llama"
        and getattr(cfg, "_attn_implementation", "") == "sdpa"
        and getattr(cfg, "num_key_value_heads", None) == cfg.num_attention_heads
        and getattr(cfg, "pretraining_tp", 1) == 1
        and not model.training
        and type(model).__name__ == "LlamaForCausalLM"
    )
    return LlamaStep(model) if plain else None


class LlamaStep:
    """Decoding steps over a key/value cache taken from transformers' prompt pass."""

    def __init__(self, model):
        base = model.model
        self.embed, self.rotary, self.head = base.embed_tokens.weight, base.rotary_emb, model.lm_head
        self.norm = (base.norm.weight, base.norm.variance_epsilon)
        self.layers = [_layer_weights(layer) for layer in base.layers[: model.config.num_hidden_layers]]
        self.heads = model.config.num_attention_heads
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []

    def start(self, cache) -> None:
        """Take over the keys and values transformers' cache holds after the prompt."""
        self.keys = [layer.keys for layer in cache.layers]
        self.values = [layer.values for layer in cache.layers]

    def __call__(self, tokens: torch.Tensor, positions: torch.Tensor | None, mask: torch.Tensor | None) -> torch.Tensor:
        """Logits [batch, vocab] after feeding `tokens` [batch, 1] at `positions` [batch, 1] (None:
        right after the cache, no padding); `mask` [batch, length] marks real (not padding) keys."""
        if positions is None:
            positions = torch.full_like(tokens, self.keys[0].shape[-2])
        x = F.embedding(tokens, self.embed)
        cos, sin = self.rotary(x, positions)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
        attn_mask = mask.bool()[:, None, None, :] if mask is not None else None
        for i, w in enumerate(self.layers):
            x = x + self._attend(i, w, _rms(x, *w["in_norm"]), cos, sin, attn_mask)
            h = _rms(x, *w["post_norm"])
            x = x + F.linear(w["act"](F.linear(h, *w["gate"])) * F.linear(h, *w["up"]), *w["down"])
        return F.linear(_rms(x, *self.norm)[:, -1], self.head.weight, self.head.bias)

    def _attend(self, i: int, w: dict, h: torch.Tensor, cos, sin, attn_mask) -> torch.Tensor:
        batch = h.shape[0]
        q = F.linear(h, *w["q"]).view(batch, 1, self.heads, -1).transpose(1, 2)
        k = F.linear(h, *w["k"]).view(batch, 1, self.heads, -1).transpose(1, 2)
        v = F.linear(h, *w["v"]).view(batch, 1, self.heads, -1).transpose(1, 2)
        q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
        # Concatenated as transformers' DynamicCache does: the same tensors, so the same numbers.
        self.keys[i] = torch.cat([self.keys[i], k], dim=-2)
        self.values[i] = torch.cat([self.values[i], v], dim=-2)
        out = F.scaled_dot_product_attention(q, self.keys[i], self.values[i], attn_mask=attn_mask, scale=w["scaling"])
        return F.linear(out.transpose(1, 2).reshape(batch, 1, -1).contiguous(), *w["o"])


def _layer_weights(layer) -> dict:
    attn, mlp = layer.self_attn, layer.mlp
    pair = lambda lin: (lin.weight, lin.bias)  # noqa: E731
    return {
        "q": pair(attn.q_proj),
        "k": pair(attn.k_proj),
        "v": pair(attn.v_proj),
        "o": pair(attn.o_proj),
        "gate": pair(mlp.gate_proj),
        "up": pair(mlp.up_proj),
        "down": pair(mlp.down_proj),
        "act": mlp.act_fn,
        "scaling": attn.scaling,
        "in_norm": (layer.input_layernorm.weight, layer.input_layernorm.variance_epsilon),
        "post_norm": (layer.post_attention_layernorm.weight, layer.post_attention_layernorm.variance_epsilon),
    }


def _rms(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    # LlamaRMSNorm, op for op (float32 statistics, back to the input dtype before the weight).
    dtype = x.dtype
    x = x.to(torch.float32)
    x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    return weight * x.to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)
