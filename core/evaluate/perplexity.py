"""Perplexity and bits per byte of a model over a text split (by default a corpus's dev split).

The text is tokenized as training does (each line with its newline, EOS after each document)
into one stream that starts with EOS; windows of `seq_length` tokens overlap by one token, so
every token after the first is predicted exactly once. Bits per byte divide the total NLL by the
UTF-8 bytes of the lines those tokens cover, so models with different tokenizers compare.
Must not import gradio or core.history.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import UserError
from core.evaluate.scoring import batch_nll, sync

LINES_PER_CALL = 2048  # lines per tokenizer call: batched calls are much faster than one by one


@dataclass
class TokenStream:
    """Token ids of a text split plus the UTF-8 bytes they cover."""

    ids: np.ndarray  # int64; ids[0] is the EOS context, never predicted
    n_bytes: int
    n_lines: int
    n_documents: int
    truncated: bool  # a token budget stopped reading before the end


def _lines(files: list[Path]):
    """Non-blank lines, with None at each document end (a blank line or the end of a file);
    the same document boundaries as core.data.dataset uses for training."""
    for path in files:
        blank = True
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.rstrip("\n")
                if line.strip():
                    blank = False
                    yield line
                elif not blank:
                    blank = True
                    yield None
        if not blank:
            yield None


def read_stream(files: list[Path], tokenizer, max_tokens: int = 0) -> TokenStream:
    """Tokenize `files` into one stream; with `max_tokens`, stop soon after reaching it, at a
    line end (whole lines only, so the byte count stays exact)."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise UserError("the tokenizer has no eos_token, so documents cannot be separated; save it with one")
    chunks, n_bytes, n_lines, n_docs, pending = [np.array([eos], dtype=np.int64)], 0, 0, 0, []
    count, truncated = 1, False

    def flush() -> int:
        lines = [t for t in pending if t is not None]
        encoded = iter(tokenizer([t + "\n" for t in lines], add_special_tokens=False)["input_ids"]) if lines else iter(())
        ids = [token for item in pending for token in (next(encoded) if item is not None else [eos])]
        chunks.append(np.asarray(ids, dtype=np.int64))
        pending.clear()
        return len(ids)

    for item in _lines(files):
        pending.append(item)
        if item is None:
            n_docs += 1
        else:
            n_lines += 1
            n_bytes += len(item.encode("utf-8")) + 1  # the newline is part of what is predicted
        if len(pending) >= (64 if max_tokens else LINES_PER_CALL):
            count += flush()
            if max_tokens and count >= max_tokens:
                truncated = True
                break
    count += flush()
    return TokenStream(np.concatenate(chunks), n_bytes, n_lines, n_docs, truncated)


def windows(n_tokens: int, length: int) -> list[tuple[int, int]]:
    """(start, end) of each window: consecutive windows share one token, so each token after the
    first is a target exactly once; the last window may be shorter."""
    if length < 2:
        raise UserError(f"seq_length {length}: perplexity windows need at least 2 tokens")
    return [(s, min(s + length, n_tokens)) for s in range(0, n_tokens - 1, length - 1)]


def stream_nll(model, ids: np.ndarray, length: int, batch_size: int, max_windows: int = 0, progress=None) -> tuple[float, int]:
    """Total NLL (nats, float64) and the number of predicted tokens over the stream's windows."""
    spans = windows(len(ids), length)
    if max_windows:
        spans = spans[:max_windows]
    total, count = 0.0, 0
    for first in range(0, len(spans), batch_size):
        batch = [ids[s:e].tolist() for s, e in spans[first : first + batch_size]]
        nll, scored = batch_nll(model, batch)
        total += float(nll.double().sum())
        count += int(scored.sum())
        if progress is not None:
            progress(min(first + batch_size, len(spans)), len(spans))
    return total, count


def perplexity(model, tokenizer, files: list[Path], seq_length: int, batch_size: int = 16, max_tokens: int = 0, log=None) -> dict:
    """Perplexity, mean NLL and bits per byte over `files` (see the module docstring)."""
    if not files:
        raise UserError("perplexity: no text files to score; give --data a corpus with a dev split")
    started = time.perf_counter()
    stream = read_stream(files, tokenizer, max_tokens)
    if len(stream.ids) < 2:
        raise UserError(f"perplexity: {', '.join(map(str, files))} holds no text to score")
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if log and time.perf_counter() - last[0] > 5:
            last[0] = time.perf_counter()
            log(f"  perplexity: window {done}/{total}")

    total, count = stream_nll(model, stream.ids, seq_length, batch_size, progress=progress)
    sync(model.device)
    seconds = time.perf_counter() - started
    mean = total / max(count, 1)
    return {
        "perplexity": math.exp(min(mean, 700.0)),
        "loss": mean,
        "bits_per_byte": total / math.log(2) / max(stream.n_bytes, 1),
        "tokens": count,
        "bytes": stream.n_bytes,
        "bytes_per_token": stream.n_bytes / max(count, 1),
        "lines": stream.n_lines,
        "documents": stream.n_documents,
        "seq_length": seq_length,
        "windows": len(windows(len(stream.ids), seq_length)),
        "truncated": stream.truncated,
        "files": [str(f) for f in files],
        "seconds": seconds,
        "tokens_per_s": count / max(seconds, 1e-9),
    }
