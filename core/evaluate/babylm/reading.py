"""BabyLM 2025 reading (`reading/reading_data.csv`): each word's surprisal by the official causal
rule, batched, then `reading_stats` for the regressions and the six official files.

The rule (`evaluation_pipeline/reading/run.py` + `get_p2`): the context is tokenized with the
tokenizer's defaults, the model's last position gives p = softmax(logits)[first sub-token of the
word, tokenized without special tokens]; a word of several sub-tokens multiplies in, for each
further sub-token, p(first token of its decoded text | context + decoded earlier sub-tokens), the
context re-tokenized as text. Surprisal = -ln p. Never imports gradio, studio or core.history.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

SCORE_LABELS = {"eye": "reading/reading_eye", "spr": "reading/reading_spr"}  # scoreboard labels


@dataclass
class ReadingData:
    """The CSV as the pipeline reads it (pandas, `item` as text, an empty `item` = "None")."""

    path: Path
    frame: object  # pandas.DataFrame


@dataclass(frozen=True)
class Word:
    """One surprisal to compute: the (context, target id) steps whose probabilities multiply."""

    steps: tuple[tuple[str, int], ...]


@dataclass
class Surprisals:
    """`pred` and `prev_pred` per row (NaN where `prev_item` is empty), and what it took."""

    pred: list[float]
    prev_pred: list[float]
    contexts: int  # distinct contexts run through the model
    seconds: float = 0.0


def read_reading(path: str | Path) -> ReadingData:
    """Read and check the CSV: every column the pipeline uses must be there, every word a text."""
    import pandas as pd

    from core.evaluate.babylm.reading_stats import REQUIRED_COLUMNS

    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype={"item": str})
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise UserError(f"{path}: not a readable CSV ({err}); give the official reading/reading_data.csv") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(
            f"{path}: missing column(s) {', '.join(missing)}; the reading data must be the official reading_data.csv unchanged"
        )
    if frame.empty:
        raise UserError(f"{path}: no rows")
    frame["item"] = frame["item"].fillna("None")
    for i, row in frame.iterrows():
        if not isinstance(row["word"], str) or not row["word"]:
            raise UserError(f"{path}: row {i + 2}: `word` is empty or not text ({row['word']!r})")
        if isinstance(row["prev_item"], str) and not isinstance(row["prev_word"], str):
            raise UserError(f"{path}: row {i + 2}: `prev_item` is given but `prev_word` is empty")
    return ReadingData(path, frame)


def plan_words(tokenizer, data: ReadingData) -> tuple[list[Word], list[Word | None]]:
    """The steps of `word` after `item` and of `prev_word` after `prev_item` (None: no prev_item)."""
    cache: dict[tuple[str, str], Word] = {}

    def word(context: str, text: str, where: str) -> Word:
        key = (context, text)
        if key not in cache:
            cache[key] = _steps(tokenizer, context, text, where)
        return cache[key]

    words, prev = [], []
    for i, row in data.frame.iterrows():
        where = f"{data.path}: row {i + 2}"
        words.append(word(row["item"], row["word"], where))
        has_prev = isinstance(row["prev_item"], str)
        prev.append(word(row["prev_item"], row["prev_word"], where) if has_prev else None)
    return words, prev


def _steps(tokenizer, context: str, text: str, where: str) -> Word:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise UserError(f"{where}: the word {text!r} gives no tokens; the tokenizer cannot score it")
    steps = [(context, ids[0])]
    context = context + tokenizer.decode(ids[0])
    for token in ids[1:]:
        # The pipeline decodes each further sub-token and scores the FIRST token of that text.
        piece = tokenizer.decode(token)
        again = tokenizer(piece, add_special_tokens=False)["input_ids"]
        if not again:
            raise UserError(f"{where}: a sub-token of {text!r} decodes to {piece!r}, which gives no tokens")
        steps.append((context, again[0]))
        context = context + piece
    return Word(tuple(steps))


def surprisals(model, tokenizer, data: ReadingData, batch_size: int = 64, progress=None) -> Surprisals:
    """Every row's `pred` and `prev_pred` (nats), each distinct context run once, `batch_size`
    contexts per forward pass (right padding; each row's last real position)."""
    if batch_size < 1:
        raise UserError(f"--batch-size {batch_size}: must be at least 1")
    started = time.perf_counter()
    words, prev = plan_words(tokenizer, data)
    wanted: dict[str, set[int]] = {}
    for w in words + [p for p in prev if p is not None]:
        for context, target in w.steps:
            wanted.setdefault(context, set()).add(target)
    probs = context_probs(model, tokenizer, wanted, batch_size, progress, str(data.path))

    def nats(w: Word) -> float:
        ps = [probs[step] for step in w.steps]
        p = ps[0] if len(ps) == 1 else _product(ps)
        if p <= 0.0:
            raise UserError(
                f"{data.path}: the model gives probability 0 to a word after {w.steps[0][0]!r} "
                "(float32 underflow); the official pipeline stops here too (log of 0)"
            )
        return -math.log(p)

    return Surprisals(
        [nats(w) for w in words],
        [nats(p) if p is not None else float("nan") for p in prev],
        len(wanted),
        time.perf_counter() - started,
    )


def _product(values: list[float]) -> float:
    import numpy as np

    return float(np.prod(values))  # as the pipeline multiplies (float64)


def context_probs(
    model, tokenizer, wanted: dict[str, set[int]], batch_size: int, progress=None, where: str = ""
) -> dict[tuple[str, int], float]:
    """p(target | context) for every wanted pair: softmax (float32) over the model's distribution at
    the context's last token, the context encoded with the tokenizer's defaults."""
    import torch

    contexts = list(wanted)
    encoded = tokenizer(contexts)["input_ids"]
    limit = getattr(model.config, "max_position_embeddings", None) or getattr(model.config, "n_positions", None)
    for text, ids in zip(contexts, encoded):
        if not ids:
            raise UserError(
                f"{where}: the context {text!r} gives no tokens (the tokenizer adds no BOS), "
                "so the model has no position to predict from"
            )
        if limit and len(ids) > limit:
            raise UserError(f"{where}: a context of {len(ids)} tokens is longer than the model's context of {limit}")
    order = sorted(range(len(contexts)), key=lambda i: -len(encoded[i]))  # similar lengths share a batch
    out: dict[tuple[str, int], float] = {}
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            probs = _last_probs(model, [encoded[i] for i in chosen])
            for row, i in enumerate(chosen):
                targets = sorted(wanted[contexts[i]])
                values = probs[row, torch.tensor(targets, device=probs.device)].tolist()
                out.update({(contexts[i], t): v for t, v in zip(targets, values)})
            if progress is not None:
                progress(min(start + batch_size, len(order)), len(order))
    return out


def _last_probs(model, batch: list[list[int]]):
    """[len(batch), vocab] float32 softmax at each sequence's last real token (right padding: every
    real position sees what it would alone; only the last positions go through the output layer)."""
    import torch

    device = model.device
    width = max(len(ids) for ids in batch)
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    att = torch.zeros(len(batch), width, dtype=torch.long)
    for r, seq in enumerate(batch):
        ids[r, : len(seq)] = torch.tensor(seq)
        att[r, : len(seq)] = 1
    last = torch.tensor([len(seq) - 1 for seq in batch], device=device)
    rows = torch.arange(len(batch), device=device)
    mask = att.to(device) if bool((att == 0).any()) else None
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    body = getattr(model, "base_model", model)
    if head is not None and body is not model:
        hidden = body(input_ids=ids.to(device), attention_mask=mask, use_cache=False).last_hidden_state
        logits = head(hidden[rows, last])
    else:  # a model without a separate body (e.g. an ONNX file): full logits
        logits = model(input_ids=ids.to(device), attention_mask=mask).logits[rows, last]
    return torch.softmax(logits.float(), dim=-1)


def run_reading(
    model, tokenizer, data: ReadingData, batch_size: int = 64, log=print, layout: str = "results/model/main/zero_shot/causal"
) -> dict:
    """Surprisals, regressions, the two scores and the six official files under `layout/reading/`."""
    from core.evaluate.babylm import reading_stats as stats

    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 10 or done == total:
            last[0] = time.perf_counter()
            log(f"  reading: {done:,}/{total:,} contexts scored")

    s = surprisals(model, tokenizer, data, batch_size, progress)
    result = stats.evaluate(data.frame, s.pred, s.prev_pred)
    files = {f"{layout}/reading/{name}": text for name, text in result.files.items()}
    return {
        "eye_tracking": result.eye_score,
        "self_paced": result.spr_score,
        "rows": len(s.pred),
        "contexts": s.contexts,
        "seconds": s.seconds,
        "contexts_per_s": s.contexts / max(s.seconds, 1e-9),
        "data": str(data.path),
        "correlations": result.correlations,
        "predictive_power": result.predictive_power,
        "predictive_power_spillover": result.spillover,
        "_files": files,
    }
