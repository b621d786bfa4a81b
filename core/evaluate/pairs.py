"""Minimal pairs in BLiMP format, scored with our rule (lm-eval's): the `pairs` suite and probe.

One JSONL file per paradigm (`sentence_good`, `sentence_bad`, and `UID` / `field` /
`linguistics_term` when present). Each sentence is scored alone: the summed log-probabilities of
its tokens after one context token (`scoring.context_token`); a pair is right when the good
sentence scores strictly higher (a tie is wrong). Accuracy per paradigm, the unweighted mean over
paradigms, and per-field means. The official BabyLM 2025 rule (`core.evaluate.babylm`: no
context token when the tokenizer adds no BOS, ties to the good sentence) agrees with this one
whenever the tokenizer adds BOS and nothing ties. Must not import gradio or core.history.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError


@dataclass
class Paradigm:
    """The pairs of one file: (good, bad) sentences and where each pair came from."""

    name: str
    path: Path
    field: str = ""
    term: str = ""
    pairs: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    lines: list[int] = dataclasses.field(default_factory=list)


def _parse_line(path: Path, number: int, line: str) -> dict:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise UserError(
            f"{path}:{number}: not valid JSON ({err.msg}); each line must be one object with sentence_good and sentence_bad"
        ) from None
    if not isinstance(row, dict):
        raise UserError(f"{path}:{number}: expected a JSON object with sentence_good and sentence_bad")
    for key in ("sentence_good", "sentence_bad"):
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise UserError(
                f"{path}:{number}: missing or empty {key!r} (BLiMP format: sentence_good, "
                "sentence_bad, optional UID, field, linguistics_term)"
            )
    return row


def load_paradigm(path: str | Path, limit: int = 0) -> Paradigm:
    """One paradigm file; the first `limit` pairs when limit > 0. Errors name the file and line."""
    path = Path(path)
    paradigm = Paradigm(name=path.stem, path=path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read it ({err}); pairs files are UTF-8 JSONL") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row = _parse_line(path, number, line)
        if not paradigm.pairs:
            paradigm.name = str(row.get("UID") or path.stem)
            paradigm.field, paradigm.term = str(row.get("field", "")), str(row.get("linguistics_term", ""))
        paradigm.pairs.append((row["sentence_good"].strip(), row["sentence_bad"].strip()))
        paradigm.lines.append(number)
        if limit and len(paradigm.pairs) >= limit:
            break
    if not paradigm.pairs:
        raise UserError(
            f"{path}: no pairs in it (empty file); add lines like "
            '{"sentence_good": "...", "sentence_bad": "..."} or remove the file'
        )
    return paradigm


def load_pairs_dir(folder: str | Path, limit: int = 0, setting: str = "--pairs-dir") -> list[Paradigm]:
    """Every `*.jsonl` paradigm in `folder` (sorted by file name); `limit` pairs each when > 0.
    `setting` is what the user set the folder with, for the message when it is not usable."""
    folder = Path(folder)
    if folder.is_file() and folder.suffix == ".jsonl":
        return [load_paradigm(folder, limit)]
    if not folder.is_dir():
        raise UserError(f"{setting}: {folder} is not a folder; give a folder of BLiMP .jsonl files")
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise UserError(f"{setting}: {folder} holds no .jsonl files (one file per paradigm, BLiMP format)")
    paradigms = [load_paradigm(path, limit) for path in files]
    seen: dict[str, Path] = {}
    for p in paradigms:
        if p.name in seen:
            raise UserError(f"{p.path}: paradigm {p.name!r} is also in {seen[p.name]}; keep one file per paradigm")
        seen[p.name] = p.path
    return paradigms


def encode_pairs(tokenizer, paradigms: list[Paradigm], limit: int | None) -> list[list[int]]:
    """Every pair's good then bad sentence, encoded for scoring (`scoring.encode_sentences`); a
    sentence that is empty or longer than the context `limit` raises, naming its file and line."""
    from core.evaluate.scoring import encode_sentences

    sentences, where = [], []
    for p in paradigms:
        for (good, bad), line in zip(p.pairs, p.lines):
            sentences += [good, bad]
            where += [f"{p.path}:{line} sentence_good", f"{p.path}:{line} sentence_bad"]
    return encode_sentences(tokenizer, sentences, where, limit)


def score_pairs(model, tokenizer, paradigms: list[Paradigm], batch_size: int = 64, seqs: list[list[int]] | None = None) -> dict:
    """Per-paradigm accuracy, the unweighted mean over paradigms and per-field means.

    All sentences of all paradigms are scored together (batching spans files); batch_size=1 is
    the one-sentence-at-a-time scoring of lm-eval's BabyLM set-up and gives the same numbers.
    `seqs` is `encode_pairs(...)` done once beforehand (training scores the same pairs again and again).
    """
    from core.evaluate.scoring import context_token, model_context, sequence_logprobs, sync  # torch

    started = time.perf_counter()
    if seqs is None:
        seqs = encode_pairs(tokenizer, paradigms, model_context(model))
    scores = sequence_logprobs(model, seqs, batch_size)
    sync(model.device)
    seconds = time.perf_counter() - started
    results, at = {}, 0
    for p in paradigms:
        own = scores[at : at + 2 * len(p.pairs)]
        at += 2 * len(p.pairs)
        correct = sum(good > bad for good, bad in zip(own[0::2], own[1::2]))
        results[p.name] = {
            "accuracy": correct / len(p.pairs),
            "correct": correct,
            "n": len(p.pairs),
            "field": p.field,
            "linguistics_term": p.term,
            "file": str(p.path),
            "logprobs": [[round(g, 4), round(b, 4)] for g, b in zip(own[0::2], own[1::2])],
        }
    fields: dict[str, list[float]] = {}
    for name, r in results.items():
        fields.setdefault(r["field"] or "(none)", []).append(r["accuracy"])
    n_pairs = sum(r["n"] for r in results.values())
    return {
        "mean": sum(r["accuracy"] for r in results.values()) / len(results),
        "fields": {f: sum(v) / len(v) for f, v in sorted(fields.items())},
        "paradigms": results,
        "n_pairs": n_pairs,
        "batch_size": batch_size,
        "context_token": tokenizer.convert_ids_to_tokens(context_token(tokenizer)),
        "rule": rule(tokenizer),
        "seconds": seconds,
        "pairs_per_s": n_pairs / max(seconds, 1e-9),
    }


def rule(tokenizer) -> dict:
    """How these numbers were made, recorded with them (the BabyLM suite records its own)."""
    from core.evaluate.scoring import context_token
    from core.tokenizer import adds_bos

    return {
        "rule": "pairs (lm-eval style)",
        "tokenizer_adds_bos": adds_bos(tokenizer),
        "context_token": tokenizer.convert_ids_to_tokens(context_token(tokenizer)),
        "first_token_scored": True,
        "tie_rule": "a tie counts as wrong (the good sentence must score higher)",
    }
