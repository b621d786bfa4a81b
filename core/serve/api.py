"""The requests of the REST server: pydantic models of the `POST /generate` and `POST /v1/completions`
bodies (finite numbers in range, or a 400 naming the field), turned into (prompts, SamplingParams).
Responses are core.serve.responses'. Must not import fastapi, gradio or studio.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, fields
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from core.errors import UserError
from core.generate import SamplingParams

SAMPLING_FIELDS = tuple(f.name for f in fields(SamplingParams))
_LIMITS = {f.name: f.metadata for f in fields(SamplingParams)}
EXAMPLE = 'send an object such as {"prompt": "Once upon a time"}'


class RequestError(UserError):
    """A request the server refuses: HTTP status, message naming the field and fix, the field."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.param, self.status, self.headers = param, status, headers or {}


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
        raise RequestError(
            f"request body is not valid JSON ({err.msg} at line {err.lineno} column {err.colno}); {EXAMPLE}"
        ) from err
    except (ValueError, RecursionError) as err:  # an integer of over 4,300 digits; nesting deeper than Python's stack
        raise RequestError(f"request body: JSON the server will not read ({err}); {EXAMPLE}") from err
    if not isinstance(body, dict):
        raise RequestError(f"request body must be a JSON object, got {type(body).__name__}; {EXAMPLE}")
    _check_unicode(body)
    return body


def _check_unicode(body: dict) -> None:
    """A RequestError naming the field of the first string that is not valid Unicode: JSON's `\\ud800`
    escapes decode to lone surrogates, which no tokenizer or response can encode. Iterative: a body
    may nest as deep as the JSON parser allowed."""
    todo: list[tuple[str, Any]] = [("", body)]
    while todo:
        where, value = todo.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                name = f"{where}.{key}" if where else key
                _utf8(key, name)
                todo.append((name, item))
        elif isinstance(value, list):
            todo.extend((f"{where}[{i}]", item) for i, item in enumerate(value))
        elif isinstance(value, str):
            _utf8(value, where)


def _utf8(text: str, field: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        shown = field.encode("utf-8", "backslashreplace").decode()
        raise RequestError(
            f"{shown}: not valid Unicode (a lone surrogate {text[err.start]!a} at character {err.start}); "
            "send UTF-8 text, with escapes only for whole characters (a pair like \\ud83d\\ude00)",
            param=shown.split(".")[0].split("[")[0],
        ) from None


# --------------------------------------------------------------------------- field types
def _show(value) -> str:
    return json.dumps(value)[:60] if isinstance(value, (list, dict)) else repr(value)[:60]


def _number(value):
    """JSON numbers only: no strings, no booleans (pydantic's lax mode would take "0.5" and true)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("number_type", "expected a number, got {got}", {"got": _show(value)})
    return value


def _bounded(name: str, kind: type):
    """A sampling field in SamplingParams' own range; `allow_inf_nan=False` (model config) refuses NaN and inf."""
    meta = _LIMITS[name]
    limits = {"gt" if meta["min_exclusive"] else "ge": meta["min"], "le": meta["max"]}
    return Annotated[kind, BeforeValidator(_number), Field(**{k: v for k, v in limits.items() if v is not None})] | None


def _stop(value):
    if value is None or isinstance(value, str):
        return () if value is None else (value,)
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise PydanticCustomError("stop_type", "expected a string or a list of strings, got {got}", {"got": _show(value)})


def _prompts(value, lists: bool):
    if isinstance(value, str):
        return [value]
    if lists and isinstance(value, list) and value and all(isinstance(p, str) for p in value):
        return list(value)
    want = "a string or a non-empty list of strings" if lists else "a string"
    hint = " (token-id prompts are not supported: send text)" if isinstance(value, list) else ""
    raise PydanticCustomError(
        "prompt_type", "expected {want}, got {got}{hint}", {"want": want, "got": _show(value), "hint": hint}
    )


def _neutral(*allowed):
    """An OpenAI field this server accepts only with its neutral value."""

    def check(value):
        if value not in allowed:
            raise PydanticCustomError(
                "unsupported", "not supported by this server, got {got}; leave it out", {"got": _show(value)}
            )
        return value

    return Annotated[Any, BeforeValidator(check)]


Temperature, TopK, TopP = _bounded("temperature", float), _bounded("top_k", int), _bounded("top_p", float)
Penalty, Seed, Budget = _bounded("repetition_penalty", float), _bounded("seed", int), _bounded("max_new_tokens", int)
Stop = Annotated[tuple[str, ...], BeforeValidator(_stop)]


class _Body(BaseModel):
    """Shared by both endpoints; null means "the default", as in OpenAI's API."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)

    def sampling(self, **values) -> SamplingParams:
        """SamplingParams from the given values; a fresh seed when none was sent (echoed back, so the
        text can be reproduced)."""
        values = {k: v for k, v in values.items() if v is not None}
        values.setdefault("seed", secrets.randbelow(2**31))
        try:
            return SamplingParams(**values)
        except UserError as err:  # the models check the same ranges first; this is a second guard
            raise RequestError(str(err)) from err

    @field_validator("max_new_tokens", "max_tokens", check_fields=False)
    @classmethod
    def _within_cap(cls, value, info: ValidationInfo):
        cap = (info.context or {}).get("cap")
        if value is not None and cap is not None and value > cap:
            raise PydanticCustomError(
                "over_cap",
                "at most {cap} on this server, got {got}; ask for {cap} or fewer "
                "(the cap is `babyllama serve --max-new-tokens-cap`)",
                {"cap": cap, "got": value},
            )
        return value


class GenerateBody(_Body):
    """`POST /generate`: {"prompt": ..., any SamplingParams field}; absent fields take SamplingParams' defaults."""

    prompt: Annotated[list[str], BeforeValidator(lambda v: _prompts(v, lists=False))]
    temperature: Temperature = None
    top_k: TopK = None
    top_p: TopP = None
    max_new_tokens: Budget = None
    repetition_penalty: Penalty = None
    seed: Seed = None
    stop: Stop = ()

    def request(self) -> Request:
        return Request(self.prompt, self.sampling(**{k: getattr(self, k) for k in SAMPLING_FIELDS}))


class CompletionBody(_Body):
    """`POST /v1/completions` in OpenAI's shape, with OpenAI's defaults (max_tokens 16, temperature 1, top_p 1,
    no top-k, no repetition penalty) where a field is absent."""

    model: str | None = None
    prompt: Annotated[list[str], BeforeValidator(lambda v: _prompts(v, lists=True))]
    max_tokens: Budget = None
    temperature: Temperature = None
    top_p: TopP = None
    top_k: TopK = None
    repetition_penalty: Penalty = None
    n: Annotated[Any, BeforeValidator(lambda v: _only_one(v))] = None
    stop: Stop = ()
    seed: Seed = None
    stream: Annotated[bool | None, BeforeValidator(lambda v: _flag(v))] = None
    logprobs: _neutral(None) = None
    echo: _neutral(False, None) = None
    suffix: _neutral(None, "") = None
    best_of: _neutral(1, None) = None
    presence_penalty: _neutral(0, None) = None
    frequency_penalty: _neutral(0, None) = None
    logit_bias: _neutral(None, {}) = None
    user: Any = None  # accepted and ignored, as OpenAI-compatible servers do
    stream_options: Any = None

    @field_validator("model")
    @classmethod
    def _served(cls, value, info: ValidationInfo):
        served = (info.context or {}).get("model")
        if value is not None and served is not None and value != served:
            raise PydanticCustomError(
                "model",
                "this server serves {served}, got {got}; send model {served} (or leave it out)",
                {"served": repr(served), "got": _show(value)},
            )
        return value

    def request(self) -> Request:
        given = {
            "max_new_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "repetition_penalty": self.repetition_penalty,
        }
        defaults = {"max_new_tokens": 16, "temperature": 1.0, "top_p": 1.0, "top_k": 0, "repetition_penalty": 1.0}
        values = {k: defaults[k] if v is None else v for k, v in given.items()}
        return Request(self.prompt, self.sampling(**values, seed=self.seed, stop=self.stop), bool(self.stream))


def _only_one(value):
    if value not in (None, 1) or isinstance(value, bool):
        raise PydanticCustomError(
            "n", "only n=1 is supported, got {got}; send one request per completion (with different seeds)", {"got": _show(value)}
        )
    return value


def _flag(value):
    if value is not None and not isinstance(value, bool):
        raise PydanticCustomError("bool_type", "expected true or false, got {got}", {"got": _show(value)})
    return value


# --------------------------------------------------------------------------- checking a body
_WORDING = {  # pydantic's own error types, in this API's words ("field: problem")
    "missing": lambda e: 'missing; send {"prompt": "Once upon a time"}' if e["loc"][0] == "prompt" else "missing",
    "finite_number": lambda e: f"expected a finite number, got {_show(e['input'])}",
    "int_from_float": lambda e: f"expected a whole number, got {_show(e['input'])}",
    "int_type": lambda e: f"expected a whole number, got {_show(e['input'])}",
    "string_type": lambda e: f"expected a string, got {_show(e['input'])}",
    "greater_than_equal": lambda e: f"must be >= {e['ctx']['ge']}, got {_show(e['input'])}",
    "greater_than": lambda e: f"must be > {e['ctx']['gt']}, got {_show(e['input'])}",
    "less_than_equal": lambda e: f"must be <= {e['ctx']['le']}, got {_show(e['input'])}",
}


def _error(err: ValidationError, model: type[BaseModel]) -> RequestError:
    """One 400 listing every bad field ("field: problem"), `param` the first of them."""
    lines = []
    for e in err.errors(include_url=False):
        name = str(e["loc"][0]) if e["loc"] else "request body"
        if e["type"] == "extra_forbidden":
            lines.append(f"{name}: unknown field; the fields are {', '.join(model.model_fields)}")
        else:
            word = _WORDING.get(e["type"])
            lines.append(f"{name}: {word(e) if word else e['msg']}")
    first = err.errors()[0]["loc"]
    return RequestError("; ".join(lines), param=str(first[0]) if first else None)


def generate_request(body: dict, cap: int) -> Request:
    """`POST /generate`: the checked request, or a RequestError (400) naming the bad fields."""
    try:
        return GenerateBody.model_validate(body, context={"cap": cap}).request()
    except ValidationError as err:
        raise _error(err, GenerateBody) from None


def completion_request(body: dict, cap: int, model_name: str) -> Request:
    """`POST /v1/completions`: the checked request, or a RequestError (400) naming the bad fields."""
    try:
        return CompletionBody.model_validate(body, context={"cap": cap, "model": model_name}).request()
    except ValidationError as err:
        raise _error(err, CompletionBody) from None


def check_prompts(checked: Request, limit: int) -> None:
    """413 when a request holds more prompts than `babyllama serve --max-prompts` allows."""
    if len(checked.prompts) > limit:
        raise RequestError(
            f"prompt: {len(checked.prompts):,} prompts is over this server's limit of {limit:,} per "
            "request; send them in several requests (the limit is `babyllama serve --max-prompts`)",
            param="prompt",
            status=413,
        )


def check_tokens(checked: Request, prompt_tokens: list[int], limit: int) -> None:
    """413 when the prompts' tokens plus the token budget of each exceed `--max-request-tokens`."""
    budget = checked.params.max_new_tokens * len(prompt_tokens)
    total = sum(prompt_tokens) + budget
    if total > limit:
        raise RequestError(
            f"request: {total:,} tokens ({sum(prompt_tokens):,} in the prompts + {budget:,} to generate) "
            f"is over this server's limit of {limit:,} per request; send fewer or shorter prompts or ask "
            "for fewer tokens (the limit is `babyllama serve --max-request-tokens`)",
            param="prompt",
            status=413,
        )
