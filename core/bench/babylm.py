"""The BabyLM suite batched against one candidate at a time (`bench eval`'s babylm part), and the
exact mode (the official pipeline's batches and float32 sums) against the fast path (shared
prefixes once, `prefix.score_items`).

All sides score the same encoded candidates with the same model, threads and precision in one
process, in alternating rounds; the ratio is reported only when every task's decisions are the
same on both sides and every score agrees within 1e-4 (exact vs fast too; the items whose decision
differs are counted either way). Must not import gradio.
"""

from __future__ import annotations

import statistics
import time

AGREE = 1e-4  # scores of the two sides may differ by float rounding (padding changes matmul shapes)


def _score(model, encoded, plan, batch_size: int) -> tuple[float, list]:
    from core.evaluate.babylm.scorer import score_all
    from core.evaluate.scoring import sync

    started = time.perf_counter()
    scores = score_all(model, encoded, plan.temperatures, batch_size)
    sync(model.device)
    return time.perf_counter() - started, scores


def _items(encoded, plan) -> list[list]:
    out, at = [], 0
    for task in plan.tasks:
        for item in task.items:
            out.append(encoded[at : at + len(item.sentences)])
            at += len(item.sentences)
    return out


def _score_fast(model, encoded, plan, batch_size: int) -> tuple[float, list]:
    """The suite's fast path (`--no-exact`): shared prefixes once, then `score_all`."""
    from core.evaluate.babylm.prefix import score_items
    from core.evaluate.scoring import sync

    started = time.perf_counter()
    flat = [c for item in score_items(model, _items(encoded, plan), plan.temperatures, batch_size) for c in item]
    sync(model.device)
    return time.perf_counter() - started, flat


def _score_exact(model, tokenizer, encoded, plan) -> tuple[float, list]:
    from core.evaluate.babylm.exact import PIPELINE_BATCH, pad_id, score_task_exact
    from core.evaluate.babylm.suite import item_ids
    from core.evaluate.scoring import sync

    started = time.perf_counter()
    flat, at = [], 0
    for task in plan.tasks:
        items = []
        for item in task.items:
            items.append(encoded[at : at + len(item.sentences)])
            at += len(item.sentences)
        for cands in score_task_exact(
            model, items, item_ids(task), plan.temperatures, pad_id(tokenizer), task.label, PIPELINE_BATCH
        ):
            flat += cands
    sync(model.device)
    return time.perf_counter() - started, flat


def _decisions(plan, flat: list) -> dict[str, list[int]]:
    from core.evaluate.babylm.results import first_argmax

    out, at = {}, 0
    for task in plan.tasks:
        picks = []
        for item in task.items:
            picks.append(first_argmax([c[0] for c in flat[at : at + len(item.sentences)]]))
            at += len(item.sentences)
        out[task.label] = picks
    return out


def bench_babylm(model, tokenizer, plan, batch_size: int = 64, rounds: int = 3) -> dict:
    """Candidates per second batched and one at a time (median of `rounds` alternating rounds)."""
    from core.evaluate.babylm.scorer import encode_all

    sentences = [s for t in plan.tasks for it in t.items for s in it.sentences]
    completions = [c for t in plan.tasks for it in t.items for c in it.completions]
    encoded = encode_all(tokenizer, sentences, completions)
    _score(model, encoded[:batch_size], plan, batch_size)  # warm-up: first-call allocations
    batched, single, exact, fast = [], [], [], []
    for _ in range(rounds):
        seconds, b_scores = _score(model, encoded, plan, batch_size)
        batched.append(seconds)
        seconds, s_scores = _score(model, encoded, plan, 1)
        single.append(seconds)
        seconds, e_scores = _score_exact(model, tokenizer, encoded, plan)
        exact.append(seconds)
        seconds, f_scores = _score_fast(model, encoded, plan, batch_size)
        fast.append(seconds)
    max_diff = max((abs(a - b) for x, y in zip(b_scores, s_scores) for a, b in zip(x, y)), default=0.0)
    same = _decisions(plan, b_scores) == _decisions(plan, s_scores) and max_diff <= AGREE
    n = len(encoded)
    b_rate, s_rate, e_rate, f_rate = (n / statistics.median(sides) for sides in (batched, single, exact, fast))
    fast_picks, exact_picks = _decisions(plan, f_scores), _decisions(plan, e_scores)
    differ = sum(a != b for label in fast_picks for a, b in zip(fast_picks[label], exact_picks[label]))
    exact_diff = max((abs(a - b) for x, y in zip(f_scores, e_scores) for a, b in zip(x, y)), default=0.0)
    agree = differ == 0 and exact_diff <= AGREE
    return {
        "candidates": n,
        "tasks": [t.label for t in plan.tasks],
        "batch_size": batch_size,
        "rounds": rounds,
        "batched_candidates_per_s": b_rate,
        "single_candidates_per_s": s_rate,
        "same_decisions": same,
        "max_score_diff": max_diff,
        "ratio": b_rate / s_rate if same else None,
        "exact_candidates_per_s": e_rate,
        "fast_candidates_per_s": f_rate,
        "fast_vs_exact": f_rate / e_rate if agree else None,
        "exact_max_score_diff": exact_diff,
        "exact_differing_decisions": differ,
    }
