"""Text generation: load a run's model (`load`), sample one prompt with our KV-cached loop
(`sampling`), several prompts batched (`batch`), and a plain Llama's decoding step straight
through its weights (`fast_decode`). Shared by chat, eval samples, export checks and the REST
server. Must not import gradio, studio or training code.
"""
from __future__ import annotations

from core.generate.load import load_model
from core.generate.sampling import (GenerationResult, PreparedPrompt, SamplingParams, context_length,
                                    decode_steps, generate, iter_tokens, next_token_scores,
                                    prepare_prompt, stream, stream_results)
from core.modelio import CONFIG_FILE, MODEL_FILE, model_folder, resolve_model

__all__ = ["CONFIG_FILE", "GenerationResult", "MODEL_FILE", "PreparedPrompt", "SamplingParams", "context_length",
           "decode_steps", "generate", "iter_tokens", "load_model", "model_folder", "next_token_scores",
           "prepare_prompt", "resolve_model", "stream", "stream_results"]
