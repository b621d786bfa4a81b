"""Cloze completion: fill the blank (`___`) of a sentence with the likeliest candidate.

Each candidate is put into the blank and the completed sentence is scored like a minimal pair
(summed token log-probs after one context token); the highest score is the model's choice.
Accuracy overall and by category, over a small built-in set or a user JSONL file
(`{"text": "... ___ ...", "options": [...], "answer": "...", "category": "..."}` per line).
Must not import gradio or core.history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.evaluate.scoring import encode_sentences, model_context, sequence_logprobs

BLANK = "___"


@dataclass(frozen=True)
class ClozeItem:
    """One sentence with a blank, its candidates, the right one and a category for the report."""

    text: str
    options: tuple[str, ...]
    answer: str
    category: str = "general"
    where: str = "built-in"

    def filled(self, option: str) -> str:
        return self.text.replace(BLANK, option, 1)


def _items(category: str, rows: list[tuple[str, str, tuple[str, ...]]]) -> list[ClozeItem]:
    return [ClozeItem(text, (answer, *others), answer, category) for text, answer, others in rows]


# The guide's "The early bird catches the ___" and friends; the options share a length range so
# that summed log-probs do not simply prefer the shortest word. Written for this project.
BUILTIN: tuple[ClozeItem, ...] = tuple(
    _items(
        "proverbs",
        [
            ("The early bird catches the ___.", "worm", ("cat", "train", "ball")),
            ("An apple a day keeps the ___ away.", "doctor", ("teacher", "garden", "window")),
            ("Actions speak louder than ___.", "words", ("trees", "shoes", "boats")),
            ("Birds of a feather flock ___.", "together", ("yesterday", "upstairs", "slowly")),
            ("Don't count your chickens before they ___.", "hatch", ("sing", "paint", "melt")),
            ("Every cloud has a silver ___.", "lining", ("spoon", "button", "window")),
            ("Practice makes ___.", "perfect", ("purple", "pancakes", "people")),
            ("Better late than ___.", "never", ("water", "orange", "seven")),
        ],
    )
    + _items(
        "animals",
        [
            ("The dog says ___.", "woof", ("moo", "quack", "meow")),
            ("The cow says ___.", "moo", ("woof", "oink", "tweet")),
            ("The duck says ___.", "quack", ("moo", "neigh", "woof")),
            ("The cat says ___.", "meow", ("moo", "quack", "oink")),
            ("The bird can ___ in the sky.", "fly", ("swim", "dig", "bake")),
            ("The fish can ___ in the pond.", "swim", ("fly", "read", "sing")),
        ],
    )
    + _items(
        "everyday",
        [
            ("I brush my teeth with a ___.", "toothbrush", ("pillow", "sandwich", "ladder")),
            ("We sleep in a ___.", "bed", ("cup", "shoe", "box")),
            ("I drink milk from a ___.", "cup", ("bed", "hat", "car")),
            ("The sun is in the ___.", "sky", ("cup", "shoe", "bed")),
            ("We read a ___ at bedtime.", "book", ("spoon", "cookie", "sock")),
            ("It is raining, so take an ___.", "umbrella", ("apple", "elephant", "orange")),
        ],
    )
    + _items(
        "grammar",
        [
            ("The dogs ___ in the park.", "play", ("plays", "playing", "played the")),
            ("She ___ happy today.", "is", ("are", "am", "be")),
            ("They ___ to the store yesterday.", "went", ("go", "goes", "going")),
            ("I have two ___.", "cats", ("cat", "a cat", "the cat")),
            ("He can't help ___.", "himself", ("herself", "themselves", "itself")),
            ("There ___ a ball under the bed.", "is", ("are", "were", "be")),
        ],
    )
)


def _parse(path: Path, number: int, line: str) -> ClozeItem:
    where = f"{path}:{number}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise UserError(f"{where}: not valid JSON ({err.msg}); each line is one object with text, options, answer") from None
    if not isinstance(row, dict):
        raise UserError(f"{where}: expected a JSON object with text, options, answer (and category)")
    text, options, answer = row.get("text"), row.get("options"), row.get("answer")
    if not isinstance(text, str) or text.count(BLANK) != 1:
        raise UserError(f"{where}: 'text' must be a string with exactly one blank {BLANK!r}")
    if not isinstance(options, list) or len(options) < 2 or not all(isinstance(o, str) and o.strip() for o in options):
        raise UserError(f"{where}: 'options' must be a list of at least 2 non-empty strings")
    if len(set(options)) != len(options):
        raise UserError(f"{where}: 'options' has duplicates; list each candidate once")
    if answer not in options:
        raise UserError(f"{where}: 'answer' {answer!r} is not one of the options {options}")
    return ClozeItem(text, tuple(options), answer, str(row.get("category") or "general"), where)


def load_cloze_file(path: str | Path) -> list[ClozeItem]:
    """Items from a JSONL file; every error names the file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"--cloze-file: cannot read {path} ({err}); give a UTF-8 JSONL file") from None
    items = [_parse(path, n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    if not items:
        raise UserError(f"--cloze-file: {path} holds no items (empty file)")
    return items


def score_cloze(model, tokenizer, items: list[ClozeItem], batch_size: int = 64) -> dict:
    """Accuracy overall and by category, and each item's choice."""
    texts, where, owners = [], [], []
    for i, item in enumerate(items):
        for option in item.options:
            texts.append(item.filled(option))
            where.append(f"{item.where} ({option!r})")
            owners.append(i)
    scores = sequence_logprobs(model, encode_sentences(tokenizer, texts, where, model_context(model)), batch_size)
    per_item: list[list[float]] = [[] for _ in items]
    for owner, score in zip(owners, scores):
        per_item[owner].append(score)
    rows, by_category = [], {}
    for item, item_scores in zip(items, per_item):
        choice = item.options[max(range(len(item_scores)), key=item_scores.__getitem__)]
        correct = choice == item.answer
        rows.append(
            {
                "text": item.text,
                "category": item.category,
                "answer": item.answer,
                "choice": choice,
                "correct": correct,
                "scores": {o: round(s, 4) for o, s in zip(item.options, item_scores)},
            }
        )
        by_category.setdefault(item.category, []).append(correct)
    return {
        "accuracy": sum(r["correct"] for r in rows) / len(rows),
        "n": len(rows),
        "by_category": {c: {"accuracy": sum(v) / len(v), "n": len(v)} for c, v in by_category.items()},
        "chance": sum(1 / len(i.options) for i in items) / len(items),
        "items": rows,
    }
