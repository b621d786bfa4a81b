"""Measuring a tokenizer: how one text splits (pieces that tile it, ids, offsets) and ratios on a
corpus sample (fertility, bytes per token, unknown rate, coverage).
Must not import gradio, studio or core.data; transformers is imported inside functions.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from core.errors import UserError
from core.tokenizer.train import describe_source, training_files


@dataclass
class TextInspection:
    """How one text splits: vocab strings, ids, char offsets, text pieces (they join back to the
    text), and ratios."""

    tokens: list[str]
    ids: list[int]
    offsets: list[tuple[int, int]]
    pieces: list[str]
    words: int
    fertility: float  # tokens per whitespace-separated word
    bytes_per_token: float
    unknown_rate: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CorpusStats:
    """Ratios measured on a sample of corpus lines (see `corpus_stats`)."""

    lines: int
    words: int
    tokens: int
    bytes: int
    fertility: float
    bytes_per_token: float
    unknown_rate: float
    coverage: float  # share of pre-tokenized words that are one token

    def to_dict(self) -> dict:
        return asdict(self)


def _backend(tokenizer):
    """The raw `tokenizers.Tokenizer` behind a transformers tokenizer (or itself)."""
    return getattr(tokenizer, "backend_tokenizer", tokenizer)


def inspect_text(tokenizer, text: str) -> TextInspection:
    """Split `text` (no special tokens added) and report fertility and bytes per token."""
    backend = _backend(tokenizer)
    enc = backend.encode(text, add_special_tokens=False)
    unk = backend.token_to_id("<unk>")
    n_tokens, words = len(enc.ids), len(text.split())
    return TextInspection(
        tokens=list(enc.tokens),
        ids=list(enc.ids),
        offsets=[tuple(o) for o in enc.offsets],
        pieces=_tiling_pieces(text, enc.offsets),
        words=words,
        fertility=n_tokens / words if words else 0.0,
        bytes_per_token=len(text.encode("utf-8")) / n_tokens if n_tokens else 0.0,
        unknown_rate=(enc.ids.count(unk) / n_tokens) if n_tokens and unk is not None else 0.0,
    )


def _tiling_pieces(text: str, offsets) -> list[str]:
    # Byte tokens of one multi-byte character share its span: give the character to the first
    # of them and "" to the rest, so the pieces join back to exactly the text (for colouring).
    pieces, end = [], 0
    for start, stop in offsets:
        pieces.append(text[max(start, end) : stop])
        end = max(end, stop)
    return pieces


def sample_lines(files: Iterable[Path], max_lines: int = 2000, seed: int = 0) -> list[str]:
    """Up to `max_lines` non-blank lines drawn uniformly from all files (seeded reservoir sampling)."""
    rng, sample, seen = random.Random(seed), [], 0
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                seen += 1
                if len(sample) < max_lines:
                    sample.append(line)
                elif (j := rng.randrange(seen)) < max_lines:
                    sample[j] = line
    return sample


def corpus_stats(tokenizer, corpus_dir_or_files, max_lines: int = 2000, seed: int = 0) -> CorpusStats:
    """Fertility, bytes/token, unknown rate and single-token word coverage on a line sample."""
    if max_lines < 1:
        raise UserError(f"--max-lines: {max_lines} must be at least 1 (lines of the corpus sampled)")
    lines = sample_lines(training_files(corpus_dir_or_files), max_lines, seed)
    if not lines:
        raise UserError(f"corpus {describe_source(corpus_dir_or_files)!r} has no text lines to measure")
    backend = _backend(tokenizer)
    unk = backend.token_to_id("<unk>")
    encodings = backend.encode_batch(lines, add_special_tokens=False)
    tokens = unknown = words = pre_words = single = 0
    for line, enc in zip(lines, encodings):
        tokens += len(enc.ids)
        unknown += enc.ids.count(unk) if unk is not None else 0
        words += len(line.split())
        # Coverage counts the tokenizer's own words (pre-tokenizer pieces, e.g. " king" and ","):
        # BPE never merges across them, so whitespace words with punctuation could never be one token.
        per_word: dict[int, list[tuple[int, int]]] = {}
        for word_id, offset in zip(enc.word_ids, enc.offsets):
            if word_id is not None:
                per_word.setdefault(word_id, []).append(offset)
        for spans in per_word.values():
            if line[spans[0][0] : spans[-1][1]].strip():  # skip runs of bare whitespace
                pre_words += 1
                single += len(spans) == 1
    n_bytes = sum(len(line.encode("utf-8")) for line in lines)
    return CorpusStats(
        lines=len(lines),
        words=words,
        tokens=tokens,
        bytes=n_bytes,
        fertility=tokens / words if words else 0.0,
        bytes_per_token=n_bytes / tokens if tokens else 0.0,
        unknown_rate=unknown / tokens if tokens else 0.0,
        coverage=single / pre_words if pre_words else 0.0,
    )
