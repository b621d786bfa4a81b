"""The responses of the REST server: generation results as `POST /generate` and
`POST /v1/completions` bodies, server-sent-event chunks of a stream, and OpenAI's error shape.
Must not import fastapi, gradio or studio.
"""

from __future__ import annotations

import json
import time
import uuid

from core.generate import GenerationResult, SamplingParams
from core.serve.api import RequestError


def timings(result: GenerationResult) -> dict:
    """prompt_ms: until the first new token; generation_ms: the rest; tokens_per_s: new tokens / total."""
    first = min(result.first_token_seconds, result.seconds)
    return {
        "prompt_ms": round(first * 1000, 3),
        "generation_ms": round((result.seconds - first) * 1000, 3),
        "total_ms": round(result.seconds * 1000, 3),
        "tokens_per_s": round(result.tokens_per_s, 3),
    }


def generate_response(result: GenerationResult, model_name: str, params: SamplingParams) -> dict:
    """The body `POST /generate` answers."""
    return {
        "model": model_name,
        "text": result.text,
        "finish_reason": result.stop_reason,
        "tokens": {"prompt": result.n_prompt_tokens, "new": result.n_new_tokens, "ids": result.tokens},
        "timings": timings(result),
        "seed": params.seed,
        "notes": result.notes,
    }


def finish_reason(result: GenerationResult) -> str:
    """OpenAI's names: "length" when the token budget ran out, else "stop" (end of text or a stop string)."""
    return "length" if result.stop_reason == "length" else "stop"


def new_completion_id() -> tuple[str, int]:
    """(id, created) of one completion response or stream."""
    return f"cmpl-{uuid.uuid4().hex}", int(time.time())


def completion_response(results: list[GenerationResult], model_name: str, ident: tuple[str, int]) -> dict:
    """The body `POST /v1/completions` answers without streaming."""
    prompt = sum(r.n_prompt_tokens for r in results)
    new = sum(r.n_new_tokens for r in results)
    choices = [{"text": r.text, "index": i, "logprobs": None, "finish_reason": finish_reason(r)} for i, r in enumerate(results)]
    return {
        "id": ident[0],
        "object": "text_completion",
        "created": ident[1],
        "model": model_name,
        "choices": choices,
        "usage": {"prompt_tokens": prompt, "completion_tokens": new, "total_tokens": prompt + new},
    }


def completion_chunk(ident: tuple[str, int], model_name: str, index: int, text: str, reason: str | None = None) -> bytes:
    """One server-sent event of a streamed completion."""
    body = {
        "id": ident[0],
        "object": "text_completion",
        "created": ident[1],
        "model": model_name,
        "choices": [{"text": text, "index": index, "logprobs": None, "finish_reason": reason}],
    }
    return b"data: " + json.dumps(body).encode() + b"\n\n"


DONE_EVENT = b"data: [DONE]\n\n"


def safe_prefix(text: str, stops: tuple[str, ...]) -> str:
    """The part of a growing text that can be sent already: without trailing spaces (the next token
    may change how they decode) and without an ending that could begin a stop string."""
    text = text.rstrip()
    hold = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), hold, -1):
            if text.endswith(stop[:k]):
                hold = k
                break
    return text[: len(text) - hold]


def error_body(err: RequestError | str, status: int) -> dict:
    """OpenAI's error shape, used by every endpoint."""
    message = str(err)
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": getattr(err, "param", None), "code": status}}
