"""Text generation: load a run's model (`load`), sample one prompt with our KV-cached loop
(`sampling`), several prompts batched (`batch`), a plain Llama's decoding step straight through its
weights (`fast_decode`), and generated text made fit to show (`text.shown_text`). Shared by chat,
eval samples, export checks and the REST server. Must not import gradio, studio or training code.

The names below load on first use (PEP 562), so `core.generate.text` (used by reports and the
studio's displays) does not import torch.
"""

from __future__ import annotations

from importlib import import_module

_SOURCES = {
    "load_model": "core.generate.load",
    **dict.fromkeys(
        (
            "GenerationResult",
            "PreparedPrompt",
            "SamplingParams",
            "context_length",
            "decode_steps",
            "generate",
            "iter_tokens",
            "next_token_scores",
            "prepare_prompt",
            "stream",
            "stream_results",
        ),
        "core.generate.sampling",
    ),
    **dict.fromkeys(("CONFIG_FILE", "MODEL_FILE", "model_folder", "resolve_model"), "core.model.folders"),
    "shown_text": "core.generate.text",
}

__all__ = sorted(_SOURCES)


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module 'core.generate' has no attribute {name!r}")
    value = getattr(import_module(_SOURCES[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SOURCES))
