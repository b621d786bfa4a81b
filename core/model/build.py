"""Build Llama / GPT-2 / GPT-J models from `ModelConfig` with plain transformers classes.

Also counts parameters and estimates training memory from the config alone, without building
anything, so `presets list` and the Model tab answer instantly. transformers is imported lazily.
Must not import gradio.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.config import ModelConfig, RunConfig

# Presets leave vocab_size at 0 ("from the tokenizer"); sizes are quoted at the guide's 16k vocab.
NOMINAL_VOCAB = 16000

# Special-token ids fixed by core.tokenizer: <pad>=0, <s>=1, </s>=2, <unk>=3.
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2


def hf_config(m: ModelConfig, vocab_size: int):
    """The transformers config for `m`; the saved folder loads with AutoModelForCausalLM."""
    import transformers

    common = dict(
        vocab_size=vocab_size,
        tie_word_embeddings=m.tie_word_embeddings,
        bos_token_id=BOS_ID,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
        initializer_range=m.initializer_range,
    )
    if m.type == "Llama":
        return transformers.LlamaConfig(
            hidden_size=m.hidden_size,
            intermediate_size=m.intermediate_size,
            num_hidden_layers=m.n_layer,
            num_attention_heads=m.n_head,
            num_key_value_heads=m.n_head,  # plain multi-head attention, as BabyLlama
            max_position_embeddings=m.max_position_embeddings,
            attention_dropout=m.dropout,
            **common,
        )
    if m.type == "GPT2":
        return transformers.GPT2Config(
            n_embd=m.hidden_size,
            n_inner=m.intermediate_size,
            n_layer=m.n_layer,
            n_head=m.n_head,
            n_positions=m.max_position_embeddings,
            resid_pdrop=m.dropout,
            embd_pdrop=m.dropout,
            attn_pdrop=m.dropout,
            **common,
        )
    if m.type == "GPTJ":
        return transformers.GPTJConfig(
            n_embd=m.hidden_size,
            n_inner=m.intermediate_size,
            n_layer=m.n_layer,
            n_head=m.n_head,
            n_positions=m.max_position_embeddings,
            rotary_dim=m.hidden_size // m.n_head,  # rotate the whole head, as Llama does
            resid_pdrop=m.dropout,
            embd_pdrop=m.dropout,
            attn_pdrop=m.dropout,
            **common,
        )
    raise ValueError(f"unknown model.type {m.type!r}")


def build_model(m: ModelConfig, vocab_size: int, *, device: str | None = None):
    """A freshly initialised causal LM (on `device`; "meta" builds it without allocating memory)."""
    import torch
    import transformers

    config = hf_config(m, vocab_size)
    if m.type == "GPTJ":
        config._attn_implementation = "eager"  # GPT-J has no SDPA path in transformers 5
    if device is None:
        return transformers.AutoModelForCausalLM.from_config(config)
    with torch.device(device):
        return transformers.AutoModelForCausalLM.from_config(config)


def count_parameters(m: ModelConfig, vocab_size: int | None = None) -> int:
    """Exact trainable parameter count of `build_model(m, vocab)`, computed from the shapes."""
    v = vocab_size or m.vocab_size or NOMINAL_VOCAB
    h, i, n = m.hidden_size, m.intermediate_size, m.n_layer
    embed = v * h
    head = 0 if m.tie_word_embeddings else v * h
    if m.type == "Llama":
        # q, k, v, o without bias; gate, up, down (SwiGLU); two RMSNorm weights per layer.
        layer = 4 * h * h + 3 * h * i + 2 * h
        return embed + head + n * layer + h
    if m.type == "GPT2":
        # Conv1D layers carry biases; LayerNorm has weight + bias; positions are learned.
        layer = (h * 3 * h + 3 * h) + (h * h + h) + (h * i + i) + (i * h + h) + 4 * h
        return embed + m.max_position_embeddings * h + n * layer + 2 * h + head
    if m.type == "GPTJ":
        # Attention projections have no bias; the MLP has; one shared LayerNorm per layer;
        # the output layer has a bias of its own even when its weight is tied.
        layer = 4 * h * h + (h * i + i) + (i * h + h) + 2 * h
        return embed + n * layer + 2 * h + head + v
    raise ValueError(f"unknown model.type {m.type!r}")


@dataclass(frozen=True)
class MemoryEstimate:
    """Approximate peak training memory in bytes, by part (AdamW, one device, no offload)."""

    weights: int
    gradients: int
    optimizer: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations

    def as_gb(self) -> dict[str, float]:
        parts = dict(
            weights=self.weights,
            gradients=self.gradients,
            optimizer=self.optimizer,
            activations=self.activations,
            total=self.total,
        )
        return {k: round(v / 1e9, 3) for k, v in parts.items()}


# Rows of logits the training loss holds at once (core.train.fused_loss): 1024 x 16k fp32 = 64 MB.
LOSS_CHUNK_ROWS = 1024


def estimate_memory(cfg: RunConfig, vocab_size: int | None = None) -> MemoryEstimate:
    """Weights + gradients + AdamW moments (fp32 master copy) + activations of one micro-batch."""
    m, t = cfg.model, cfg.training
    v = vocab_size or m.vocab_size or NOMINAL_VOCAB
    params = count_parameters(m, v)
    b, s, h, a = t.batch_size, cfg.data.seq_length, m.hidden_size, m.n_head
    half = t.fp16 or t.bf16
    # Activation bytes per layer for a transformer block in 16-bit: s*b*h*(34 + 5*a*s/h)
    # (Korthikanti et al., 2022); float32 doubles it. The loss (core.train.fused_loss) never holds
    # all b*s*V logits: one chunk of rows in fp32 at a time, plus the output layer's gradient and
    # the hidden states' gradient that it keeps until backward.
    per_layer = s * b * h * (34 + 5 * a * s / h) * (1 if half else 2)
    logits = 2 * min(b * s, LOSS_CHUNK_ROWS) * v * 4 + v * h * 4 + b * s * h * 4
    return MemoryEstimate(
        weights=4 * params, gradients=4 * params, optimizer=8 * params, activations=int(m.n_layer * per_layer + logits)
    )


def describe(cfg: RunConfig, vocab_size: int | None = None) -> dict:
    """Parameter count and memory estimate in one dict (for `config check` and the Model tab)."""
    v = vocab_size or cfg.model.vocab_size or NOMINAL_VOCAB
    return {
        "type": cfg.model.type,
        "vocab_size": v,
        "parameters": count_parameters(cfg.model, v),
        "memory_gb": estimate_memory(cfg, v).as_gb(),
    }


def human(n: float) -> str:
    """12_345_678 -> '12.3M' (parameters, tokens, words)."""
    for unit, scale in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(int(n))
