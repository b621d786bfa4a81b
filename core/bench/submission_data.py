"""Synthetic strict-small evaluation data for `bench submission`: a `fast_eval/` folder in the
official BabyLM file formats (blimp, supplement, EWoK, entity tracking, wug), reading rows and AoA
(context, word) items, all from one seeded random generator. Standard library only; must not import torch or gradio.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

NOUNS = (
    "dog",
    "cat",
    "girl",
    "boy",
    "teacher",
    "ball",
    "box",
    "apple",
    "key",
    "cup",
    "bird",
    "farmer",
    "doctor",
    "table",
    "river",
    "house",
    "book",
    "child",
    "horse",
    "window",
)
VERBS = ("saw", "liked", "found", "carried", "watched", "helped", "moved", "opened", "chased", "painted")
ADJECTIVES = ("red", "small", "happy", "old", "quiet", "bright", "heavy", "kind", "wet", "tall")
WUGS = ("glorb", "snarp", "tesk", "blick", "dax", "fep", "zorp", "mip")


@dataclass(frozen=True)
class SyntheticData:
    """Where the data was written and the AoA items (kept in memory: no official file is needed)."""

    root: Path  # the evaluation_data/ folder (fast_eval/ under it)
    sentences: list[str]  # every sentence written, for the tokenizer and the reading rows
    aoa_contexts: list[str]
    aoa_words: list[str]


def _sentence(rng: random.Random, words: int) -> str:
    out = [f"the {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(VERBS)} the {rng.choice(NOUNS)}"]
    while len(" ".join(out).split()) < words:
        out.append(f"and the {rng.choice(NOUNS)} {rng.choice(VERBS)} it")
    return " ".join(out).capitalize() + "."


def _write(folder: Path, name: str, rows: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _blimp(rng, n: int, uid: str) -> list[dict]:
    rows = []
    for _ in range(n):
        good = _sentence(rng, rng.randint(5, 12))
        words = good[:-1].split()
        i = rng.randrange(len(words) - 1)
        bad = " ".join(words[:i] + [words[i + 1], words[i]] + words[i + 2 :]) + "."
        rows.append({"sentence_good": good, "sentence_bad": bad, "field": "syntax", "UID": uid, "linguistics_term": uid})
    return rows


def _ewok(rng, n: int) -> list[dict]:
    rows = []
    for _ in range(n):
        noun, a, b = rng.choice(NOUNS), *rng.sample(ADJECTIVES, 2)
        context = " ".join(_sentence(rng, 10) for _ in range(2))
        rows.append(
            {
                "Context1": f"{context} The {noun} is {a}.",
                "Context2": f"{context} The {noun} is {b}.",
                "Target1": f"The {noun} looks {a}.",
                "Target2": f"The {noun} looks {b}.",
                "Domain": "physical-properties",
                "ContextType": "concrete",
                "ContextDiff": "adjective",
                "TargetDiff": "adjective",
            }
        )
    return rows


def _entity(rng, n: int) -> list[dict]:
    rows = []
    for _ in range(n):
        boxes = [rng.sample(NOUNS, 2) for _ in range(4)]
        prefix = " ".join(f"Box {k} contains the {x} and the {y}." for k, (x, y) in enumerate(boxes))
        k = rng.randrange(4)
        options = [f" the {x} and the {y}." for x, y in boxes[k:] + boxes[:k]][:3]
        rows.append({"input_prefix": f"{prefix} Box {k} contains", "options": options, "numops": 0})
    return rows


def _wug(rng, n: int) -> list[dict]:
    rows = []
    for _ in range(n):
        w = rng.choice(WUGS) + rng.choice("aeiou") + "y"
        rows.append(
            {"sentences": f"It is {w}. Its {w}ness is clear.\tIt is {w}. Its {w}ity is clear.", "ratio": round(rng.random(), 3)}
        )
    return rows


def write_fast_eval(root: Path, items: int, aoa_contexts: int, seed: int = 0) -> SyntheticData:
    """`root/evaluation_data/fast_eval/` with `items` items in each task file, and `aoa_contexts`
    (context, word) items cut from further sentences (every word after the third, its words before)."""
    rng = random.Random(seed)
    fast = root / "evaluation_data" / "fast_eval"
    files = {
        "blimp_fast": {"word_order.jsonl": _blimp(rng, items, "word_order"), "swap.jsonl": _blimp(rng, items, "swap")},
        "supplement_fast": {"hypernym.jsonl": _blimp(rng, items, "hypernym")},
        "ewok_fast": {"physical-properties.jsonl": _ewok(rng, items)},
        "entity_tracking_fast": {"regular.jsonl": _entity(rng, items)},
        "wug_adj_nominalization": {"wug_adj_nominalization.jsonl": _wug(rng, items)},
    }
    sentences = []
    for folder, named in files.items():
        for name, rows in named.items():
            _write(fast / folder, name, rows)
            for row in rows:
                sentences += [v for k, v in row.items() if isinstance(v, str) and k not in ("field", "UID")]
                sentences += [row["input_prefix"] + o for o in row.get("options", [])]
    contexts, words = [], []
    while len(contexts) < aoa_contexts:
        tokens = _sentence(rng, 10)[:-1].split()
        for i in range(3, len(tokens)):
            contexts.append(" ".join(tokens[:i]))
            words.append(tokens[i])
    sentences += [c + " " + w for c, w in zip(contexts, words)]
    return SyntheticData(root / "evaluation_data", sentences, contexts[:aoa_contexts], words[:aoa_contexts])
