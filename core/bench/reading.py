"""BabyLM reading batched against the official one-context-at-a-time loop (`bench eval`'s reading
part). The official side is written here from `evaluation_pipeline/reading` (`get_p2` per row,
full logits per forward, softmax on the CPU as its latest version does), never imported.

Both sides compute every row's `pred` and `prev_pred` with the same model and data in one
process, in alternating rounds; the ratio is reported only when every surprisal agrees within
1e-5 and both give the same report.txt. Must not import gradio.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from pathlib import Path

AGREE = 1e-5  # nats: the batched side pads, so its matmuls have other shapes (float noise only)
COLUMNS = (
    "RTfirstfix",
    "RTfirstpass",
    "RTgopast",
    "RTrightbound",
    "self_paced_reading_time",
    "ELAN",
    "LAN",
    "N400",
    "P600",
    "EPNP",
    "PNP",
)


def write_synthetic_csv(sentences: list[str], path: Path, rows: int, seed: int = 0) -> Path:
    """Reading rows from `sentences` in the official columns (one per word: `item` = the words
    before it, the sentence's first word after an empty one; times seeded random: speed does not
    depend on them). At most `rows` rows (0 = all)."""
    import csv

    rng = random.Random(seed)
    out = []
    for sentence in sentences:
        words = sentence.split()
        for k, word in enumerate(words):
            row = {
                "item": " ".join(words[:k]),
                "word": (" " if k else "") + word,
                "prev_item": " ".join(words[: k - 1]) if k >= 2 else "",
                "prev_word": (" " if k > 1 else "") + words[k - 1] if k >= 2 else "",
            }
            row.update({c: round(rng.gauss(300, 60), 2) for c in COLUMNS})
            row.update(
                Subtlex_log10=round(rng.uniform(1, 5), 4),
                length=len(word),
                context_length=k,
                prev_length=len(words[k - 1]) if k else "",
            )
            out.append(row)
        if rows and len(out) >= rows:
            break
    out = out[:rows] if rows else out
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(out[0]))
        writer.writeheader()
        writer.writerows(out)
    return path


def _official_last(context: str, model, tokenizer):
    """One context alone: the whole sequence's logits, the last position's softmax (on the CPU)."""
    import torch

    inputs = tokenizer(context, return_tensors="pt").to(model.device)
    with torch.no_grad():
        logits = model(**inputs).logits[:, -1, :].cpu()
    return torch.softmax(logits[0], dim=-1)


def _official_p(context: str, word: str, model, tokenizer) -> float:
    """`get_p`: p of the FIRST token of `word` (no special tokens) after `context`."""
    return _official_last(context, model, tokenizer)[tokenizer(word, add_special_tokens=False)["input_ids"][0]].item()


def _official_p2(context: str, word: str, model, tokenizer) -> float:
    """`get_p2`: p of the word's first sub-token; for more, times `get_p` of each further sub-token's
    decoded text after the context grown by the decoded pieces so far."""
    import numpy as np

    pieces = tokenizer(word, add_special_tokens=False)["input_ids"]
    first = _official_last(context, model, tokenizer)[pieces[0]].item()
    if len(pieces) == 1:
        return first
    probs, context = [first], context + tokenizer.decode(pieces[0])
    for piece in pieces[1:]:
        text = tokenizer.decode(piece)
        probs.append(_official_p(context, text, model, tokenizer))
        context += text
    return np.prod(probs)


def official_surprisals(model, tokenizer, frame) -> tuple[list[float], list[float]]:
    """The pipeline's row loop: `pred` for every row, `prev_pred` where `prev_item` is text."""
    pred, prev = [], []
    for _, row in frame.iterrows():
        pred.append(-math.log(_official_p2(row["item"], row["word"], model, tokenizer)))
        prev.append(
            -math.log(_official_p2(row["prev_item"], row["prev_word"], model, tokenizer))
            if isinstance(row["prev_item"], str)
            else float("nan")
        )
    return pred, prev


def _max_diff(a: list[float], b: list[float]) -> float:
    """Largest difference; inf when one side has NaN where the other has a number."""
    worst = 0.0
    for x, y in zip(a, b):
        if math.isnan(x) or math.isnan(y):
            if math.isnan(x) != math.isnan(y):
                return math.inf
            continue
        worst = max(worst, abs(x - y))
    return worst


def bench_reading(model, tokenizer, data, batch_size: int = 64, rounds: int = 3) -> dict:
    """Rows per second batched and by the official loop (median of `rounds` alternating rounds)."""
    from core.evaluate.babylm import reading, reading_stats
    from core.evaluate.scoring import sync

    def ours():
        s = reading.surprisals(model, tokenizer, data, batch_size)
        return s.pred, s.prev_pred

    def official():
        return official_surprisals(model, tokenizer, data.frame)

    sides = {"batched": ours, "official": official}
    times, outs = {k: [] for k in sides}, {}
    for r in range(rounds):
        for name in ("batched", "official") if r % 2 == 0 else ("official", "batched"):
            started = time.perf_counter()
            outs[name] = sides[name]()
            sync(model.device)
            times[name].append(time.perf_counter() - started)
    diff = max(_max_diff(outs["batched"][0], outs["official"][0]), _max_diff(outs["batched"][1], outs["official"][1]))
    reports = [reading_stats.evaluate(data.frame, *outs[k]).files["report.txt"] for k in ("batched", "official")]
    agree = diff <= AGREE and reports[0] == reports[1]
    n = len(data.frame)
    batched, single = statistics.median(times["batched"]), statistics.median(times["official"])
    return {
        "rows": n,
        "batch_size": batch_size,
        "rounds": rounds,
        "data": str(data.path),
        "batched_rows_per_s": n / batched,
        "official_rows_per_s": n / single,
        "max_surprisal_diff": diff,
        "same_report": reports[0] == reports[1],
        "agree": agree,
        "report": reports[0].strip().replace("\n", "; "),
        "ratio": single / batched if agree else None,
    }


def format_line(r: dict, target: float) -> str:
    """`bench eval`'s reading line."""
    ratio = (
        f"{r['ratio']:.1f}x ({'meets' if r['ratio'] >= target else 'MISSES'} the {target:g}x target)"
        if r["ratio"] is not None
        else "no ratio: the two sides disagree (a bug to report)"
    )
    return (
        f"BabyLM reading ({r['rows']:,} rows): batched {r['batched_rows_per_s']:,.0f} rows/s vs the official "
        f"loop {r['official_rows_per_s']:,.0f} rows/s = {ratio}; largest surprisal difference "
        f"{r['max_surprisal_diff']:.1e} nats, same report.txt: {r['same_report']} ({r['report']})"
    )
