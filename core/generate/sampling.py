"""Sampling shared by chat, eval samples and the REST server.

Our own KV-cached sampling loop (repetition penalty, temperature, top-k, top-p, a private seeded
`torch.Generator`), so later speed work has one loop to optimise. Must not import gradio or studio.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields

import torch

from core.bounds import MAX_VOCAB
from core.errors import Issue, UserError
from core.generate.fast_decode import fast_decoder


# --------------------------------------------------------------------------- parameters
def _spec(default, help: str, lo=None, hi=None, *, lo_open=False):
    return field(default=default, metadata={"help": help, "min": lo, "max": hi, "min_exclusive": lo_open})


@dataclass(frozen=True)
class SamplingParams:
    """How to pick each next token; invalid values raise one UserError listing every problem."""

    temperature: float = _spec(0.8, "Softmax temperature; 0 = greedy (always the likeliest token).", 0.0, 10.0)
    top_k: int = _spec(50, "Sample only among the k likeliest tokens (0 = no limit).", 0, MAX_VOCAB)
    top_p: float = _spec(
        0.95, "Nucleus: the smallest set of tokens whose probability reaches p (1 = off).", 0.0, 1.0, lo_open=True
    )
    max_new_tokens: int = _spec(64, "Most tokens to generate (capped to the model's context).", 1, 100_000)
    repetition_penalty: float = _spec(1.1, "Divide the scores of tokens already in the text (1 = off).", 0.0, 10.0, lo_open=True)
    seed: int = _spec(0, "Random seed: the same seed gives the same text.", 0, 2**63 - 1)
    stop: tuple[str, ...] = field(
        default=(), metadata={"help": "Stop when the text contains one of these strings (cut before it)."}
    )

    def __post_init__(self) -> None:
        issues = []
        for f in fields(self):
            if f.name == "stop":
                continue
            value, want_int = getattr(self, f.name), f.type in ("int", int)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            if ok and want_int and isinstance(value, float):
                ok = value.is_integer()
                object.__setattr__(self, f.name, int(value) if ok else value)
            if not ok:
                issues.append(Issue(f.name, f"expected {'a whole number' if want_int else 'a number'}, got {value!r}"))
                continue
            issues += _bounds(f.name, value, f.metadata)
        stop = (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)
        object.__setattr__(self, "stop", tuple(s for s in stop if s))
        if issues:
            lines = [f"{len(issues)} problem{'s' if len(issues) > 1 else ''} in the sampling settings:"]
            raise UserError("\n".join(lines + [f"  - {i}" for i in issues]))


def _bounds(name: str, value: float, meta) -> list[Issue]:
    lo, hi = meta["min"], meta["max"]
    if lo is not None and (value < lo or (meta["min_exclusive"] and value <= lo)):
        bound = f"> {lo}" if meta["min_exclusive"] else f">= {lo}"
        return [Issue(name, f"must be {bound}, got {value}", f"set {name} {bound}")]
    if hi is not None and value > hi:
        return [Issue(name, f"must be <= {hi}, got {value}", f"set {name} <= {hi}")]
    return []


# --------------------------------------------------------------------------- results
@dataclass
class GenerationResult:
    """The continuation of one prompt (the prompt itself is not repeated in `text`)."""

    text: str
    tokens: list[int]  # the new token ids (without a final end-of-text token)
    n_prompt_tokens: int  # after any truncation
    n_new_tokens: int
    seconds: float
    tokens_per_s: float
    stop_reason: str = "length"  # "length" | "eos" | "stop" (a stop string) | "cancelled"
    notes: list[str] = field(default_factory=list)  # truncation and capping, for the user
    first_token_seconds: float = 0.0  # until the first new token: tokenizing + the prompt's forward pass


@dataclass(frozen=True)
class PreparedPrompt:
    """Prompt token ids that fit the context, the new-token budget left, and what was changed."""

    ids: list[int]
    max_new_tokens: int
    notes: list[str]


def context_length(model) -> int | None:
    """The longest sequence the model's positions allow, or None when its config does not say."""
    cfg = model.config
    return getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)


def prepare_prompt(model, tokenizer, prompt: str, max_new_tokens: int) -> PreparedPrompt:
    """Tokenize as training did (no special tokens); fit prompt + new tokens into the context.

    A prompt that fills the context keeps its last tokens, leaving room for
    min(max_new_tokens, context/2) new ones; otherwise max_new_tokens is capped to what fits.
    An empty prompt starts after an end-of-text token, as every training document does.
    """
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
    notes: list[str] = []
    if not ids:
        start = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.bos_token_id
        if start is None:
            raise UserError("prompt: it is empty and the tokenizer has no end-of-text token to start from; type a few words")
        ids = [start]
    ctx = context_length(model)
    if ctx:
        if len(ids) >= ctx:
            keep = ctx - min(max_new_tokens, ctx // 2)
            notes.append(f"prompt truncated to its last {keep} of {len(ids)} tokens (context {ctx})")
            ids = ids[-keep:]
        room = ctx - len(ids)
        if max_new_tokens > room:
            notes.append(f"max_new_tokens capped from {max_new_tokens} to {room} to fit the context ({ctx})")
            max_new_tokens = room
    return PreparedPrompt(list(ids), max_new_tokens, notes)


# --------------------------------------------------------------------------- the sampling loop
def next_token_scores(logits: torch.Tensor, seen: torch.Tensor | None, params: SamplingParams) -> torch.Tensor:
    """Apply repetition penalty, temperature, top-k and top-p to logits (float32), one row or a
    batch of rows (the vocabulary is the last dimension); `seen` marks tokens already in the text."""
    if params.repetition_penalty != 1.0:
        # As in the CTRL paper and transformers: shrink positive scores, push negative ones down.
        penalised = torch.where(logits > 0, logits / params.repetition_penalty, logits * params.repetition_penalty)
        logits = torch.where(seen, penalised, logits)
    if params.temperature == 0:
        return logits  # greedy: the caller takes the argmax, the rest does not matter
    logits = logits / params.temperature
    if 0 < params.top_k < logits.shape[-1]:
        kth = torch.topk(logits, params.top_k).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if params.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a token when the tokens before it already reach top_p (the first always stays).
        drop = (torch.cumsum(probs, dim=-1) - probs) >= params.top_p
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def iter_tokens(
    model, prompt_ids: list[int], params: SamplingParams, *, max_new_tokens: int | None = None, eos_id: int | None = None
) -> Iterator[int]:
    """Yield new token ids one by one, reusing the KV cache; ends at `eos_id` (not yielded) or
    after `max_new_tokens` (default params.max_new_tokens). Does not touch the global RNG."""
    budget = params.max_new_tokens if max_new_tokens is None else max_new_tokens
    input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=model.device)
    for (token,) in decode_steps(model, input_ids, params, budget=budget, eos_id=eos_id):
        if token == eos_id:
            return
        yield token


def decode_steps(
    model,
    input_ids: torch.Tensor,
    params: SamplingParams,
    *,
    budget: int,
    attention_mask: torch.Tensor | None = None,
    eos_id: int | None = None,
    pad_id: int = 0,
    limits: list[int] | None = None,
) -> Iterator[list[int]]:
    """The one KV-cached sampling loop: yield the next token of every row (a list, one id per row)
    at most `budget` times. Rows are left-padded where `attention_mask` is 0; a row ends at
    `eos_id` (yielded once, then `pad_id`) or after `limits[row]` tokens; the loop stops when every
    row has ended. Greedy when params.temperature == 0; never touches the global RNG."""
    device, (batch, length) = input_ids.device, input_ids.shape
    generator = torch.Generator(device=device).manual_seed(params.seed)
    cache_name, extra = _forward_names(model)
    feed, next_pos = {"input_ids": input_ids}, None
    if attention_mask is not None:
        # One mask for the whole run, sliced each step (transformers concatenates a new one per token).
        mask = torch.ones(batch, length + budget, dtype=torch.long, device=device)
        mask[:, :length] = attention_mask
        positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        feed.update(attention_mask=mask[:, :length], position_ids=positions)
        next_pos = positions[:, -1:] + 1
        last_pos = (context_length(model) or 2**62) - 1
    seen = _seen_tokens(input_ids, attention_mask, model) if params.repetition_penalty != 1.0 else None
    ended = torch.zeros(batch, dtype=torch.bool, device=device)
    limit = torch.tensor(limits, device=device) if limits is not None else None
    fast = fast_decoder(model)  # a plain Llama decodes without transformers' per-call overhead
    cache = None
    for step in range(budget):
        # Inference mode per step, never across a yield: a consumer may resume this generator
        # on another thread (Gradio does) and must not find itself inside inference mode.
        with torch.inference_mode():
            if fast is not None and cache is not None:
                logits = fast(feed["input_ids"], feed.get("position_ids"), feed.get("attention_mask"))
            else:  # the prompt (or a model without a fast step): transformers' own forward
                out = model(**feed, **{cache_name: cache}, use_cache=True, **extra)
                cache, logits = getattr(out, cache_name), out.logits[:, -1]
                if fast is not None:
                    fast.start(cache)
            # Only the last position predicts the next token; float32 keeps sampling stable.
            scores = next_token_scores(logits.float(), seen, params)
            if params.temperature == 0:
                token = torch.argmax(scores, dim=-1)
            else:
                token = torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator)[:, 0]
            token = token.masked_fill(ended, pad_id)  # an ended row is fed padding, as transformers does
            if eos_id is not None:
                ended |= token == eos_id
            if limit is not None:
                ended |= limit <= step + 1
            if seen is not None:
                seen.scatter_(1, token[:, None], True)
            feed = {"input_ids": token[:, None]}
            if next_pos is not None:
                feed.update(attention_mask=mask[:, : length + step + 1], position_ids=next_pos.clamp(max=last_pos))
                next_pos = next_pos + 1
            ids = token.tolist()
        yield ids
        if bool(ended.all()):
            return


def _seen_tokens(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, model) -> torch.Tensor:
    """[batch, vocab] bools: which tokens each prompt holds (left padding excluded)."""
    counts = torch.zeros(input_ids.shape[0], model.config.vocab_size, dtype=torch.long, device=input_ids.device)
    weight = attention_mask.long() if attention_mask is not None else torch.ones_like(input_ids)
    return counts.scatter_add_(1, input_ids, weight) > 0


def _forward_names(model) -> tuple[str, dict]:
    """The KV-cache argument's name (`cache` since transformers 5.24, `past_key_values` before)
    and `logits_to_keep=1` where supported: the prompt's other positions need no logits."""
    params = inspect.signature(model.forward).parameters
    extra = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
    return ("cache" if "cache" in params else "past_key_values"), extra


def _run(
    model, tokenizer, prompt: str, params: SamplingParams, *, each: bool, cancelled: Callable[[], bool] | None = None
) -> Iterator[GenerationResult]:
    """The one generation path: a snapshot after every token when `each`, and always a final one.
    `cancelled()` is asked before each token; True ends the text there (stop reason `cancelled`)."""
    start = time.perf_counter()
    prepared = prepare_prompt(model, tokenizer, prompt, params.max_new_tokens)
    tokens: list[int] = []
    reason, text, first = "eos", "", 0.0

    def snapshot() -> GenerationResult:
        seconds = time.perf_counter() - start
        return GenerationResult(
            text,
            list(tokens),
            len(prepared.ids),
            len(tokens),
            seconds,
            len(tokens) / seconds if seconds > 0 else 0.0,
            reason,
            list(prepared.notes),
            first or seconds,
        )

    for token in iter_tokens(model, prepared.ids, params, max_new_tokens=prepared.max_new_tokens, eos_id=tokenizer.eos_token_id):
        if cancelled is not None and cancelled():  # the caller is gone (a server's client left)
            reason = "cancelled"
            break
        tokens.append(token)
        if not first:
            first = time.perf_counter() - start
        if len(tokens) >= prepared.max_new_tokens:
            reason = "length"
        if not each:
            continue
        text = tokenizer.decode(tokens, skip_special_tokens=True)
        cut = _stop_at(text, params.stop)
        if cut is not None:
            text, reason = cut, "stop"
            break
        if not text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
            yield snapshot()
    if not each:
        text = tokenizer.decode(tokens, skip_special_tokens=True)
    yield snapshot()


def _stop_at(text: str, stops: tuple[str, ...]) -> str | None:
    hits = [text.index(s) for s in stops if s in text]
    return text[: min(hits)] if hits else None


def stream_results(model, tokenizer, prompt: str, params: SamplingParams) -> Iterator[GenerationResult]:
    """A GenerationResult after every new token (text decoded so far); the last one is final."""
    return _run(model, tokenizer, prompt, params, each=True)


def stream(model, tokenizer, prompt: str, params: SamplingParams) -> Iterator[str]:
    """Yield the growing continuation after each token; the last value is `generate`'s text."""
    for result in _run(model, tokenizer, prompt, params, each=True):
        yield result.text


def generate(
    model, tokenizer, prompt: str, params: SamplingParams | None = None, *, cancelled: Callable[[], bool] | None = None
) -> GenerationResult:
    """The continuation of `prompt` sampled with `params` (defaults: SamplingParams()); `cancelled()`,
    asked before each token, ends it early."""
    params = params or SamplingParams()
    # Stop strings are checked on the decoded text after each token; without them, decode once.
    *_, last = _run(model, tokenizer, prompt, params, each=bool(params.stop), cancelled=cancelled)
    return last
