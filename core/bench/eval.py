"""`babyllama bench eval`: batched minimal-pair scoring against one sentence at a time (batch 1,
what lm-eval's BabyLM set-up does), the BabyLM suite, AoA surprisal and BabyLM reading against their
official one-at-a-time loops, and our perplexity pass against a bare forward loop.

Both sides score the same sentences with the same model in one process, in alternating rounds;
the accuracies must be identical, else there is no ratio. With no --model, a randomly initialised model of a preset
(at a `vocab`-token output layer) is used with a tokenizer trained on the pairs themselves (speed does not depend on
the weights); with no --pairs-dir, BLiMP-like pairs are generated (`blimp_like`). Must not import gradio.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from core.bench.aoa import report_line as aoa_line
from core.bench.blimp_like import write_pairs
from core.errors import UserError
from core.evaluate import pairs as pairs_mod
from core.evaluate.perplexity import stream_nll, windows
from core.evaluate.scoring import encode_sentences, model_context, sequence_logprobs, sync
from core.workspace import Workspace

TARGET_RATIO, TARGET_PPL_RATIO = 5.0, 0.9


@dataclass(frozen=True)
class EvalBenchOptions:
    """What `bench eval` measures; the defaults take about a minute on 2 CPU cores."""

    model: str = ""  # a run or model folder; "" = a random model of `preset`
    preset: str = "llama-10M"
    pairs_dir: str = ""  # BLiMP .jsonl folder; "" = BLiMP-like pairs generated (`blimp_like`)
    pairs: int = 100  # pairs per paradigm (0 = all; generated: 100)
    vocab: int = 16000  # the random model's vocabulary (at least the tokenizer's): the guide's 16k
    batch_size: int = 64
    seq_length: int = 128  # perplexity window
    ppl_windows: int = 48
    device: str = ""
    threads: int = 0  # torch CPU threads; 0 = torch's default (all cores)
    rounds: int = 3  # minimal pairs: batched and one-at-a-time rounds, alternating
    babylm_data: str = ""  # BabyLM suite: the official data ("" = the pairs folder read as blimp_filtered)
    fast: bool = False  # BabyLM suite: its fast_eval/
    reading_rows: int = 400  # BabyLM reading: rows of its CSV (or of one made from the pairs); 0 = all


def _random_model(opts: EvalBenchOptions, paradigms, ws: Workspace, tmp: Path):
    import torch

    from core import config as config_mod
    from core.config import presets
    from core.model.build import build_model
    from core.tokenizer import load_tokenizer, train_tokenizer

    text = tmp / "sentences.txt"
    text.write_text("\n".join(s for p in paradigms for pair in p.pairs for s in pair) + "\n", encoding="utf-8")
    train_tokenizer(text, tmp / "tok", vocab_size=2000, min_frequency=2, progress=False)
    tokenizer = load_tokenizer(tmp / "tok")
    cfg = config_mod.load(presets.resolve_config_path(opts.preset, ws))
    torch.manual_seed(0)
    device = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return build_model(cfg.model, max(len(tokenizer), opts.vocab)).to(device).eval(), tokenizer


def _timed(fn, *args):
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def _pairs_side(model, tokenizer, paradigms, batch_size: int) -> tuple[list[float], float]:
    sentences = [s for p in paradigms for pair in p.pairs for s in pair]
    seqs = encode_sentences(tokenizer, sentences, [f"pair sentence {i}" for i in range(len(sentences))], model_context(model))

    def score():
        out = sequence_logprobs(model, seqs, batch_size)
        sync(model.device)
        return out

    return _timed(score)


def _ppl_sides(model, tokenizer, paradigms, opts: EvalBenchOptions) -> dict:
    import numpy as np
    import torch

    text = " ".join(good for p in paradigms for good, _ in p.pairs)
    ids = np.asarray([tokenizer.eos_token_id] + tokenizer(text, add_special_tokens=False)["input_ids"], dtype=np.int64)
    step = opts.seq_length - 1
    n_windows = min(opts.ppl_windows, (len(ids) - 1) // step)
    if n_windows < 1:
        raise UserError("bench eval: too little text for one perplexity window; use more --pairs")
    ids = ids[: n_windows * step + 1]  # full windows only, so the bare loop needs no padding
    spans = windows(len(ids), opts.seq_length)

    @torch.inference_mode()
    def bare():
        for first in range(0, len(spans), opts.batch_size):
            batch = torch.tensor(np.stack([ids[s:e] for s, e in spans[first : first + opts.batch_size]]), device=model.device)
            model(input_ids=batch)
        sync(model.device)

    def ours():
        stream_nll(model, ids, opts.seq_length, opts.batch_size)
        sync(model.device)

    ours()  # warm-up both
    bare()
    ours_s, bare_s = [], []
    for _ in range(3):  # interleaved rounds: a busy machine slows both alike; the best round counts
        ours_s.append(_timed(ours)[1])
        bare_s.append(_timed(bare)[1])
    tokens = len(ids) - 1
    return {
        "ppl_tokens": tokens,
        "ppl_ours_tokens_per_s": tokens / min(ours_s),
        "ppl_bare_tokens_per_s": tokens / min(bare_s),
        "ppl_ratio": min(bare_s) / min(ours_s),
    }


def run_eval_bench(opts: EvalBenchOptions, ws: Workspace, log=print) -> dict:
    """Measure both comparisons; returns the dict `--json` prints."""
    if opts.pairs_dir and not Path(opts.pairs_dir).exists():
        raise UserError(
            f"bench eval: no pairs at {opts.pairs_dir}; give --pairs-dir DIR (BLiMP .jsonl files) "
            "or leave it out for generated BLiMP-like pairs"
        )
    if opts.rounds < 1:
        raise UserError("bench eval: --rounds must be >= 1")
    if opts.reading_rows < 0:
        raise UserError("bench eval: --reading-rows must be 0 (all) or more")
    import torch

    if opts.threads:
        torch.set_num_threads(opts.threads)  # this process only: the bench runs in its own CLI process
    tmp = Path(tempfile.mkdtemp(prefix="babyllama-bench-eval-"))
    try:
        folder = opts.pairs_dir or write_pairs(tmp / "blimp-like", opts.pairs or 100)
        paradigms = pairs_mod.load_pairs_dir(folder, opts.pairs)
        if opts.model:
            from core.generate import load_model

            model, tokenizer = load_model(opts.model, ws, device=opts.device or None)
        else:
            log(f"building a random {opts.preset} model and a tokenizer trained on the pairs")
            model, tokenizer = _random_model(opts, paradigms, ws, tmp)
        n_pairs = sum(len(p.pairs) for p in paradigms)
        log(f"{n_pairs} pairs in {len(paradigms)} paradigms, {sum(p.numel() for p in model.parameters()):,} parameters")
        result = _pairs_rounds(model, tokenizer, paradigms, opts, log)
        result.update(
            {
                "n_pairs": n_pairs,
                "batch_size": opts.batch_size,
                "model": opts.model or f"random {opts.preset}",
                "n_params": sum(p.numel() for p in model.parameters()),
                "device": str(model.device),
                "vocab": model.get_output_embeddings().weight.shape[0],
                "threads": torch.get_num_threads(),
            }
        )
        log("BabyLM suite (official rule): batched vs one candidate at a time")
        result["babylm"] = _babylm_sides(model, tokenizer, folder, opts)
        log("AoA surprisal (official rule): batched vs the official one-context-at-a-time loop")
        result["aoa"] = _aoa_sides(model, tokenizer, paradigms, opts)
        log("BabyLM reading (official rule): batched vs the official one-context-at-a-time loop")
        result["reading"] = _reading_sides(model, tokenizer, paradigms, opts, tmp)
        log("perplexity: ours vs a bare model(input_ids) loop")
        result.update(_ppl_sides(model, tokenizer, paradigms, opts))
        result.update(target_ratio=TARGET_RATIO, target_ppl_ratio=TARGET_PPL_RATIO)
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _pairs_rounds(model, tokenizer, paradigms, opts: EvalBenchOptions, log) -> dict:
    """Batched and one-at-a-time scoring in alternating rounds (batched first, then single first,
    ...), the median round of each: a busy spell of the machine slows both sides alike. Every
    round's accuracies must equal on both sides, else there is no ratio."""
    n_pairs = sum(len(p.pairs) for p in paradigms)
    _pairs_side(model, tokenizer, paradigms[:1], opts.batch_size)  # warm-up
    sizes = {"batched": opts.batch_size, "single": 1}
    scores, times = {"batched": [], "single": []}, {"batched": [], "single": []}
    for r in range(opts.rounds):
        for side in ("batched", "single") if r % 2 == 0 else ("single", "batched"):
            out, seconds = _pairs_side(model, tokenizer, paradigms, sizes[side])
            scores[side].append(out)
            times[side].append(seconds)
        log(
            f"round {r + 1}/{opts.rounds}: batched {n_pairs / times['batched'][-1]:,.0f} pairs/s, "
            f"one at a time {n_pairs / times['single'][-1]:,.0f} pairs/s"
        )
    batched_s, single_s = statistics.median(times["batched"]), statistics.median(times["single"])
    first = _accuracies(paradigms, scores["batched"][0])
    same = all(_accuracies(paradigms, out) == first for side in scores.values() for out in side)
    if not same:
        log("the two sides gave different accuracies; no ratio")
    return {
        "batched_pairs_per_s": n_pairs / batched_s,
        "single_pairs_per_s": n_pairs / single_s,
        "ratio": single_s / batched_s if same else None,
        "same_accuracies": same,
        "ratio_by_round": statistics.median(s / b for b, s in zip(times["batched"], times["single"])) if same else None,
        "rounds": opts.rounds,
        "max_logprob_diff": max(abs(a - b) for a, b in zip(scores["batched"][0], scores["single"][0])),
        "accuracies": first,
    }


def _accuracies(paradigms, scores: list[float]) -> dict[str, float]:
    out, at = {}, 0
    for p in paradigms:
        own = scores[at : at + 2 * len(p.pairs)]
        at += 2 * len(p.pairs)
        out[p.name] = sum(g > b for g, b in zip(own[0::2], own[1::2])) / len(p.pairs)
    return out


def _babylm_sides(model, tokenizer, pairs_folder, opts: EvalBenchOptions) -> dict:
    from core.bench.babylm import bench_babylm
    from core.evaluate.babylm import suite, tasks

    if opts.babylm_data:
        the_plan = suite.plan(opts.babylm_data, opts.fast, limit=opts.pairs)
    else:  # the same pairs, read and scored as the official pipeline's blimp task
        the_plan = suite.BabyLMPlan([tasks.read_task(Path(pairs_folder), "blimp", opts.pairs)])
    return bench_babylm(model, tokenizer, the_plan, opts.batch_size, opts.rounds)


def _aoa_sides(model, tokenizer, paradigms, opts: EvalBenchOptions) -> dict:
    from core.bench import aoa as aoa_bench
    from core.evaluate.babylm import aoa

    if opts.babylm_data and aoa.find_file(Path(opts.babylm_data).expanduser(), aoa.WORDS_FILE):
        contexts, words = aoa_bench.items_from_data(opts.babylm_data)
    else:  # contexts and words cut from the pairs' good sentences
        contexts, words = aoa_bench.items_from_pairs(paradigms)
    return aoa_bench.bench_aoa(model, tokenizer, contexts, words, opts.batch_size, opts.rounds)


def _reading_sides(model, tokenizer, paradigms, opts: EvalBenchOptions, tmp: Path) -> dict:
    from core.bench.reading import bench_reading, write_synthetic_csv
    from core.evaluate.babylm import reading, tasks

    found = tasks.discover(opts.babylm_data, opts.fast).reading if opts.babylm_data else None
    if found is None:  # the pairs' good sentences, one row per word
        found = write_synthetic_csv([pair[0] for p in paradigms for pair in p.pairs], tmp / "reading.csv", opts.reading_rows)
    data = reading.read_reading(found)
    if opts.reading_rows:
        data = reading.ReadingData(data.path, data.frame.head(opts.reading_rows))
    return bench_reading(model, tokenizer, data, opts.batch_size, opts.rounds)


def format_report(r: dict) -> str:
    """The human summary `bench eval` prints without --json."""
    from core.bench.reading import format_line

    mark = lambda ok: "meets" if ok else "MISSES"  # noqa: E731
    ratio = (
        f"ratio {r['ratio']:.1f}x ({mark(r['ratio'] >= r['target_ratio'])} the {r['target_ratio']:g}x target; "
        f"{r['ratio_by_round']:.1f}x round by round)"
        if r["ratio"] is not None
        else "no ratio: the two sides gave different accuracies (a bug to report)"
    )
    return "\n".join(
        [
            f"model: {r['model']} ({r['n_params']:,} parameters, {r['vocab']:,}-token vocabulary) on {r['device']} "
            f"({r['threads']} threads); {r['n_pairs']} pairs",
            f"minimal pairs batched (batch {r['batch_size']}): {r['batched_pairs_per_s']:,.0f} pairs/s "
            f"(median of {r['rounds']} rounds, alternating with one at a time)",
            f"minimal pairs one at a time (batch 1):  {r['single_pairs_per_s']:,.0f} pairs/s",
            f"{ratio}; same accuracies: {r['same_accuracies']} (largest log-prob difference {r['max_logprob_diff']:.2e})",
            _babylm_line(r["babylm"], r["target_ratio"]),
            *([aoa_line(r["aoa"], r["target_ratio"])] if "aoa" in r else []),
            format_line(r["reading"], r["target_ratio"]),
            _exact_line(r["babylm"]),
            f"perplexity pass: {r['ppl_ours_tokens_per_s']:,.0f} tok/s vs bare forward {r['ppl_bare_tokens_per_s']:,.0f} tok/s "
            f"= {r['ppl_ratio']:.2f}x ({mark(r['ppl_ratio'] >= r['target_ppl_ratio'])} the {r['target_ppl_ratio']:g}x target)",
        ]
    )


def _exact_line(b: dict) -> str:
    ratio = (
        f"{b['fast_vs_exact']:.1f}x"
        if b["fast_vs_exact"] is not None
        else "no ratio: the two decided differently or their scores differ by more than 1e-4"
    )
    return (
        f"BabyLM exact (the pipeline's batches of 64 items, float32 sums): {b['exact_candidates_per_s']:,.0f}/s vs "
        f"fast (--no-exact: batches of one length, shared prefixes once) {b['fast_candidates_per_s']:,.0f}/s = "
        f"{ratio}; decisions that differ: "
        f"{b['exact_differing_decisions']} (largest score difference {b['exact_max_score_diff']:.1e})"
    )


def _babylm_line(b: dict, target: float) -> str:
    ratio = (
        f"{b['ratio']:.1f}x ({'meets' if b['ratio'] >= target else 'MISSES'} the {target:g}x target)"
        if b["ratio"] is not None
        else "no ratio: the two sides decided differently (a bug to report)"
    )
    return (
        f"BabyLM suite ({', '.join(b['tasks'])}, {b['candidates']:,} candidates): batched "
        f"{b['batched_candidates_per_s']:,.0f}/s vs one at a time {b['single_candidates_per_s']:,.0f}/s = {ratio}; "
        f"same decisions: {b['same_decisions']} (largest score difference {b['max_score_diff']:.1e})"
    )
