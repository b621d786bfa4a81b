"""The JSON shapes of the REST server: request bodies of `POST /generate` and `POST /v1/completions`
checked and turned into (prompts, SamplingParams), and results turned into responses and
server-sent-event chunks. Pure functions; must not import http.server, gradio or studio.
"""
from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, fields

from core.errors import UserError
from core.generate import GenerationResult, SamplingParams

SAMPLING_FIELDS = tuple(f.name for f in fields(SamplingParams))
# OpenAI completion fields accepted only with their neutral value (anything else is a clear 400).
NEUTRAL = {"logprobs": (None,), "echo": (False, None), "suffix": (None, ""), "best_of": (1, None),
           "presence_penalty": (0, 0.0, None), "frequency_penalty": (0, 0.0, None), "logit_bias": (None, {})}
IGNORED = ("user", "stream_options")  # accepted and ignored, as OpenAI-compatible servers do
COMPLETION_FIELDS = ("model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "repetition_penalty",
                     "n", "stop", "seed", "stream", *NEUTRAL, *IGNORED)


class RequestError(UserError):
    """A request the server refuses: HTTP status, message naming the field and fix, the field."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400):
        super().__init__(message)
        self.param, self.status = param, status


@dataclass(frozen=True)
class Request:
    """A checked request: the prompts, how to sample, whether to stream."""

    prompts: list[str]
    params: SamplingParams
    stream: bool = False


def parse_body(raw: bytes) -> dict:
    """The JSON object in a request body, or a RequestError saying what is wrong with it."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise RequestError(f"request body is not UTF-8 ({err.reason} at byte {err.start}); send JSON text") from err
    except json.JSONDecodeError as err:
        raise RequestError(f"request body is not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); "
                           'send an object such as {"prompt": "Once upon a time"}') from err
    if not isinstance(body, dict):
        raise RequestError(f"request body must be a JSON object, got {type(body).__name__}; "
                           'send an object such as {"prompt": "Once upon a time"}')
    return body


def _unknown(body: dict, allowed) -> None:
    extra = [k for k in body if k not in allowed]
    if extra:
        raise RequestError(f"{extra[0]}: unknown field; the fields are {', '.join(allowed)}", param=extra[0])


def _whole(body: dict, name: str, cap: int) -> None:
    """A token budget field: a whole number from 1 to the server's cap."""
    value = body.get(name)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 1:
        raise RequestError(f"{name}: expected a whole number >= 1, got {value!r}", param=name)
    if value > cap:
        raise RequestError(f"{name}: at most {cap} on this server, got {value}; ask for {cap} or fewer "
                           "(the cap is `babyllama serve --max-new-tokens-cap`)", param=name)


def _stop(value) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise RequestError(f"stop: expected a string or a list of strings, got {value!r}", param="stop")


def _sampling(values: dict) -> SamplingParams:
    """SamplingParams from request values; its validation becomes a 400 naming the first bad field."""
    if "seed" not in values or values["seed"] is None:
        values["seed"] = secrets.randbelow(2**31)  # a fresh seed, echoed back so the text can be reproduced
    values["stop"] = _stop(values.get("stop"))
    try:
        return SamplingParams(**{k: v for k, v in values.items() if v is not None})
    except UserError as err:
        found = re.search(r"^  - (\w+):", str(err), re.MULTILINE)
        raise RequestError(str(err), param=found.group(1) if found else None) from err


def _prompt(value, *, lists: bool) -> list[str]:
    if isinstance(value, str):
        return [value]
    if lists and isinstance(value, list) and value and all(isinstance(p, str) for p in value):
        return list(value)
    want = "a string or a non-empty list of strings" if lists else "a string"
    hint = " (token-id prompts are not supported: send text)" if isinstance(value, list) else ""
    raise RequestError(f"prompt: expected {want}, got {json.dumps(value)[:60]}{hint}", param="prompt")


def generate_request(body: dict, cap: int) -> Request:
    """`POST /generate`: {"prompt": ..., any SamplingParams field}."""
    _unknown(body, ("prompt", *SAMPLING_FIELDS))
    if "prompt" not in body:
        raise RequestError('prompt: missing; send {"prompt": "Once upon a time"}', param="prompt")
    _whole(body, "max_new_tokens", cap)
    values = {k: body[k] for k in SAMPLING_FIELDS if k in body}
    return Request(_prompt(body["prompt"], lists=False), _sampling(values))


def completion_request(body: dict, cap: int, model_name: str) -> Request:
    """`POST /v1/completions` in the OpenAI shape; OpenAI's defaults (max_tokens 16, temperature 1,
    top_p 1, no top-k, no repetition penalty) where a field is absent."""
    _unknown(body, COMPLETION_FIELDS)
    if body.get("model") not in (None, model_name):
        raise RequestError(f"model: this server serves {model_name!r}, got {body['model']!r}; "
                           f"send model {model_name!r} (or leave it out)", param="model")
    if "prompt" not in body:
        raise RequestError('prompt: missing; send {"prompt": "Once upon a time"}', param="prompt")
    if body.get("n") not in (None, 1):
        raise RequestError(f"n: only n=1 is supported, got {body['n']!r}; send one request per completion "
                           "(with different seeds)", param="n")
    for name, neutral in NEUTRAL.items():
        if name in body and body[name] not in neutral:
            raise RequestError(f"{name}: not supported by this server, got {body[name]!r}; leave it out", param=name)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError(f"stream: expected true or false, got {stream!r}", param="stream")
    _whole(body, "max_tokens", cap)
    given = {k: v for k, v in body.items() if v is not None}  # null = the default, as in OpenAI's API
    values = {"max_new_tokens": given.get("max_tokens", 16), "temperature": given.get("temperature", 1.0),
              "top_p": given.get("top_p", 1.0), "top_k": given.get("top_k", 0),
              "repetition_penalty": given.get("repetition_penalty", 1.0), "seed": given.get("seed"),
              "stop": given.get("stop")}
    return Request(_prompt(body["prompt"], lists=True), _sampling(values), stream)


# --------------------------------------------------------------------------- responses
def timings(result: GenerationResult) -> dict:
    """prompt_ms: until the first new token; generation_ms: the rest; tokens_per_s: new tokens / total."""
    first = min(result.first_token_seconds, result.seconds)
    return {"prompt_ms": round(first * 1000, 3), "generation_ms": round((result.seconds - first) * 1000, 3),
            "total_ms": round(result.seconds * 1000, 3), "tokens_per_s": round(result.tokens_per_s, 3)}


def generate_response(result: GenerationResult, model_name: str, params: SamplingParams) -> dict:
    """The body `POST /generate` answers."""
    return {"model": model_name, "text": result.text, "finish_reason": result.stop_reason,
            "tokens": {"prompt": result.n_prompt_tokens, "new": result.n_new_tokens, "ids": result.tokens},
            "timings": timings(result), "seed": params.seed, "notes": result.notes}


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
    choices = [{"text": r.text, "index": i, "logprobs": None, "finish_reason": finish_reason(r)}
               for i, r in enumerate(results)]
    return {"id": ident[0], "object": "text_completion", "created": ident[1], "model": model_name,
            "choices": choices, "usage": {"prompt_tokens": prompt, "completion_tokens": new,
                                          "total_tokens": prompt + new}}


def completion_chunk(ident: tuple[str, int], model_name: str, index: int, text: str,
                     reason: str | None = None) -> bytes:
    """One server-sent event of a streamed completion."""
    body = {"id": ident[0], "object": "text_completion", "created": ident[1], "model": model_name,
            "choices": [{"text": text, "index": index, "logprobs": None, "finish_reason": reason}]}
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
