"""BLiMP-like minimal pairs for `bench eval` when no --pairs-dir is given: short synthetic
child-directed sentences (4-14 words) whose bad twin differs in one or two words, one BLiMP-format
.jsonl file per kind of change. Deterministic (one seeded Random); never imports gradio or torch.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from core.data.synthetic import generate_documents

MIN_WORDS, MAX_WORDS = 4, 14


def _swap_adjacent(words: list[str], rng: random.Random, vocab: list[str]) -> list[str]:
    j = rng.randrange(len(words) - 1)
    return words[:j] + [words[j + 1], words[j]] + words[j + 2 :]


def _swap_two(words: list[str], rng: random.Random, vocab: list[str]) -> list[str]:
    i, j = sorted(rng.sample(range(len(words)), 2))
    return words[:i] + [words[j]] + words[i + 1 : j] + [words[i]] + words[j + 1 :]


def _replace_word(words: list[str], rng: random.Random, vocab: list[str]) -> list[str]:
    j = rng.randrange(len(words))
    return words[:j] + [rng.choice(vocab)] + words[j + 1 :]


def _replace_two(words: list[str], rng: random.Random, vocab: list[str]) -> list[str]:
    return _replace_word(_replace_word(words, rng, vocab), rng, vocab)


def _drop_word(words: list[str], rng: random.Random, vocab: list[str]) -> list[str]:
    j = rng.randrange(len(words))
    return words[:j] + words[j + 1 :]


def _repeat_word(words: list[str], rng: random.Random, vocab: list[str]) -> list[str]:
    j = rng.randrange(len(words))
    return words[: j + 1] + [words[j]] + words[j + 1 :]


CHANGES = {
    "swap_adjacent": _swap_adjacent,
    "swap_two": _swap_two,
    "replace_word": _replace_word,
    "replace_two": _replace_two,
    "drop_word": _drop_word,
    "repeat_word": _repeat_word,
}


def sentences(n: int, seed: int = 0) -> list[str]:
    """`n` distinct synthetic sentences of MIN_WORDS to MAX_WORDS words, without quotes."""
    out: dict[str, None] = {}
    for doc in generate_documents(max(20 * n, 2000), "complex", seed):
        for line in doc.splitlines():
            if '"' not in line and MIN_WORDS <= len(line.split()) <= MAX_WORDS:
                out[line] = None
        if len(out) >= n:
            break
    return list(out)[:n]


def write_pairs(folder: Path, pairs: int = 100, seed: int = 0) -> Path:
    """`folder`/<change>.jsonl for every change in CHANGES, `pairs` pairs each (BLiMP fields:
    sentence_good, sentence_bad, field, UID, linguistics_term); returns `folder`."""
    rng = random.Random(seed)
    pool = sentences(pairs * len(CHANGES), seed)
    vocab = sorted({w.strip(",.?!") for s in pool for w in s.split()} - {""})
    folder.mkdir(parents=True, exist_ok=True)
    for n, (name, change) in enumerate(CHANGES.items()):
        rows = []
        for good in pool[n :: len(CHANGES)][:pairs]:
            end = good[-1] if good[-1] in ".?!" else ""  # the changes move words, not the final mark
            words = good[: len(good) - len(end)].split()
            bad = " ".join(change(words, rng, vocab)) + end
            if bad == good:  # a swap of two equal words: change another way
                bad = " ".join(_drop_word(words, rng, vocab)) + end
            rows.append(
                {
                    "sentence_good": good,
                    "sentence_bad": bad,
                    "field": "syntax",
                    "UID": name,
                    "linguistics_term": name.replace("_", " "),
                }
            )
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder
