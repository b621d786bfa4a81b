"""Generation metrics: samples from fixed and user prompts through core.generate, and consistency.

Diversity is distinct-1/2/3 (unique word n-grams / all word n-grams, pooled over samples); the
repeated-n-gram rate is the share of word 3-grams that repeat one earlier in the same sample; the
mean top-token probability is the model's own max next-token probability at each generated token
(re-scored in one forward pass). Consistency: greedy continuations of paraphrased prompt pairs,
compared by the Jaccard overlap of their word sets. Must not import gradio or core.history.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from core.errors import UserError
from core.evaluate.scoring import model_context

PROMPTS = (
    "Once upon a time",
    "The little dog",
    "Mommy, can I",
    "The cat sat on the",
    "One day, the children",
    "I like to eat",
    "In the garden there was",
    "The early bird",
    "Where is the",
    "She opened the box and",
)
PARAPHRASES = (
    ("The cat sat on the", "A cat was sitting on the"),
    ("Once upon a time, there was a", "A long time ago, there was a"),
    ("The little dog ran to the", "The small dog ran to the"),
    ("Mommy, can I have the", "Mom, may I have the"),
    ("The children played in the", "The kids were playing in the"),
    ("I want to eat", "I would like to eat"),
)
REPEAT_N = 3
_WORD = re.compile(r"[\w']+")


def words(text: str) -> list[str]:
    """Lower-cased words (letters, digits, apostrophes); punctuation is not a word."""
    return _WORD.findall(text.lower())


def _ngrams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(texts: list[str], n: int) -> float:
    """Unique word n-grams / all word n-grams over every text (0 when there are none)."""
    grams = [g for text in texts for g in _ngrams(words(text), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def repeated_ngrams(text: str, n: int = REPEAT_N) -> tuple[int, int]:
    """(n-grams that already occurred earlier in the text, all n-grams)."""
    seen, repeats = set(), 0
    grams = _ngrams(words(text), n)
    for gram in grams:
        repeats += gram in seen
        seen.add(gram)
    return repeats, len(grams)


def jaccard(a: str, b: str) -> float:
    """|A & B| / |A | B| of the two texts' word sets (1 when both are empty)."""
    set_a, set_b = set(words(a)), set(words(b))
    return len(set_a & set_b) / len(set_a | set_b) if set_a | set_b else 1.0


def read_prompts(path: str | Path, model, tokenizer) -> list[str]:
    """One prompt per non-empty line; a prompt that leaves no room in the context is an error."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"--custom-prompts: cannot read {path} ({err}); give a UTF-8 text file, one prompt a line") from None
    prompts = [(n, line.strip()) for n, line in enumerate(lines, start=1) if line.strip()]
    if not prompts:
        raise UserError(f"--custom-prompts: {path} holds no prompts (empty file); write one prompt per line")
    limit = model_context(model)
    for number, prompt in prompts:
        n = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        if limit and n >= limit:
            raise UserError(
                f"{path}:{number}: the prompt is {n} tokens, as long as the model's context "
                f"({limit}); shorten it so there is room to generate"
            )
    return [p for _, p in prompts]


@torch.inference_mode()
def top_token_probs(model, prompt_ids: list[int], new_ids: list[int]) -> list[float]:
    """The model's largest next-token probability before each generated token."""
    if not new_ids:
        return []
    ids = torch.tensor([prompt_ids + new_ids[:-1]], device=model.device)
    logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 :].float()
    return torch.softmax(logits, dim=-1).max(dim=-1).values.tolist()


def generation_metrics(model, tokenizer, prompts: list[str], params, log=None) -> dict:
    """Sample every prompt with `params` (core.generate); diversity, repetition, confidence, speed."""
    from core.generate import generate, prepare_prompt

    samples, probs, seconds, n_new, repeats, grams = [], [], 0.0, 0, 0, 0
    for i, prompt in enumerate(prompts):
        result = generate(model, tokenizer, prompt, params)
        prepared = prepare_prompt(model, tokenizer, prompt, params.max_new_tokens)
        top = top_token_probs(model, prepared.ids, result.tokens)
        rep, total = repeated_ngrams(result.text)
        repeats, grams = repeats + rep, grams + total
        probs += top
        seconds, n_new = seconds + result.seconds, n_new + result.n_new_tokens
        samples.append(
            {
                "prompt": prompt,
                "text": result.text,
                "tokens": result.n_new_tokens,
                "distinct_2": distinct_n([result.text], 2),
                "top_token_prob": sum(top) / max(len(top), 1),
                "notes": result.notes,
            }
        )
        if log:
            log(f"  gen {i + 1}/{len(prompts)}: {prompt!r} -> {result.text[:60]!r}")
    texts = [s["text"] for s in samples]
    return {
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "distinct_3": distinct_n(texts, 3),
        f"repeated_{REPEAT_N}gram_rate": repeats / grams if grams else 0.0,
        "mean_top_token_prob": sum(probs) / len(probs) if probs else 0.0,
        "tokens_per_s": n_new / seconds if seconds > 0 else 0.0,
        "new_tokens": n_new,
        "n_prompts": len(prompts),
        "params": _params_dict(params),
        "samples": samples,
    }


def consistency(model, tokenizer, pairs=PARAPHRASES, max_new_tokens: int = 24) -> dict:
    """Greedy continuations of each paraphrase pair and their word-set Jaccard overlap."""
    from core.generate import SamplingParams, generate

    greedy = SamplingParams(temperature=0.0, repetition_penalty=1.0, max_new_tokens=max_new_tokens)
    rows = []
    for a, b in pairs:
        text_a, text_b = generate(model, tokenizer, a, greedy).text, generate(model, tokenizer, b, greedy).text
        rows.append({"prompt_a": a, "prompt_b": b, "text_a": text_a, "text_b": text_b, "jaccard": jaccard(text_a, text_b)})
    return {"mean_jaccard": sum(r["jaccard"] for r in rows) / len(rows), "n": len(rows), "pairs": rows}


def _params_dict(params) -> dict:
    return {
        name: getattr(params, name) for name in ("temperature", "top_k", "top_p", "max_new_tokens", "repetition_penalty", "seed")
    }
