"""`bench train`'s figures: from each side's per-round reports to tokens/s (median and best step),
paired ratios, MFU against the measured matmul peaks, peak RSS, and the sides' names in the report.
Must not import gradio."""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from core.bench.flops import flops_per_token, matmul_parameters

if TYPE_CHECKING:
    from core.bench.run import BenchOptions

# The targets from the project issue, shown beside the measurements.
TARGET_RATIO, TARGET_MFU, TARGET_RSS_MB = 1.3, 0.75, 2500

SIDE_LABELS = {"ours": "ours (core.train.loop)", "trainer": "transformers.Trainer", "ours_malloc": "ours, other allocator"}


def tokens_per_step(cfg) -> int:
    return cfg.training.batch_size * cfg.data.seq_length


def round_rate(report: dict, cfg) -> float:
    """Tokens/s of one round: all its steps' tokens over all its steps' time."""
    times = report["step_times"]
    return tokens_per_step(cfg) * len(times) / sum(times)


def side_figures(side_reports: list[dict], final: dict, cfg, per_token: int, peak_flops: float) -> dict:
    # The median step of all rounds: a burst of other work on a shared machine moves it little,
    # and taking turns gives every side the same share of such bursts.
    steps = [t for report in side_reports[1:] for t in report["step_times"]]
    rate, best = (tokens_per_step(cfg) / t for t in (statistics.median(steps), min(steps)))
    return {
        "tokens_per_s": rate,
        "mfu": rate * per_token / peak_flops,
        "peak_rss_mb": final["peak_rss_mb"],
        "best_tokens_per_s": best,
        "best_mfu": best * per_token / peak_flops,
        "training_rss_mb": side_reports[-1]["peak_rss_mb"],  # before the run's end (our final save)
        "round_tokens_per_s": [round_rate(r, cfg) for r in side_reports[1:]],
        "step_s": steps,
        "threads_used": side_reports[-1].get("threads"),
    }


def paired_ratio(side: dict, base: dict) -> float:
    return statistics.median(a / b for a, b in zip(side["round_tokens_per_s"], base["round_tokens_per_s"]))


def paired_mfu(side: dict, per_token: int, peaks: list[float]) -> float:
    """The median over rounds of a round's FLOP/s over the peak measured right after it."""
    return statistics.median(rate * per_token / peak for rate, peak in zip(side["round_tokens_per_s"], peaks[1:]))


def summarise(cfg, opts: BenchOptions, reports, finals, peaks, tokenizer_vocab, threads) -> dict:
    """The result dict of `bench train` (core.bench.report prints it)."""
    from core.model.build import count_parameters

    m, vocab = cfg.model, cfg.model.vocab_size
    per_token = flops_per_token(m, vocab, cfg.data.seq_length)
    peak_flops = max(peaks)  # the MFU denominator: the best the machine showed
    fig = {side: side_figures(reports[side], finals[side], cfg, per_token, peak_flops) for side in reports}
    ours, base = fig["ours"], fig["trainer"]
    result = {
        "ours_tokens_per_s": ours["tokens_per_s"],
        "baseline_tokens_per_s": base["tokens_per_s"],
        "ratio": ours["tokens_per_s"] / base["tokens_per_s"],
        "mfu": ours["mfu"],
        "peak_rss_mb": ours["peak_rss_mb"],
        "baseline_mfu": base["mfu"],
        "baseline_peak_rss_mb": base["peak_rss_mb"],
        "ours_training_peak_rss_mb": ours["training_rss_mb"],
        "baseline_training_peak_rss_mb": base["training_rss_mb"],
        "ours_round_tokens_per_s": ours["round_tokens_per_s"],
        "baseline_round_tokens_per_s": base["round_tokens_per_s"],
        "ours_step_s": ours["step_s"],
        "baseline_step_s": base["step_s"],
        # Each round's ours/Trainer ratio, minutes apart at most: the median resists drifting load.
        "paired_ratio": paired_ratio(ours, base),
        # The fastest step of each side: what an idle machine gives.
        "ours_best_tokens_per_s": ours["best_tokens_per_s"],
        "baseline_best_tokens_per_s": base["best_tokens_per_s"],
        "best_ratio": ours["best_tokens_per_s"] / base["best_tokens_per_s"],
        "best_mfu": ours["best_mfu"],
        # The same rate against the peak measured right after each round: on a shared VM whose
        # matmul speed drifts (2048^3 products from 106 to 329 GFLOP/s in one day here), this one
        # compares like with like; `mfu` holds every step to the machine's best moment.
        "paired_mfu": paired_mfu(ours, per_token, peaks),
        "matmul_peaks_gflops": [p / 1e9 for p in peaks],
        "dtype": opts.dtype_name,
        "compiled": opts.compile,
        "matmul_peak_gflops": peak_flops / 1e9,
        "model_flops_per_token": per_token,
        "flops_formula": "6 * matmul_parameters + 12 * n_layer * hidden_size * seq_length",
        "parameters": count_parameters(m, vocab),
        "matmul_parameters": matmul_parameters(m, vocab),
        "preset": opts.preset,
        "model_type": m.type,
        "vocab_size": vocab,
        "tokenizer_vocab": tokenizer_vocab,
        "unused_vocab_rows": vocab - tokenizer_vocab,
        "batch_size": cfg.training.batch_size,
        "seq_length": cfg.data.seq_length,
        "steps_per_round": opts.steps,
        "rounds": opts.rounds,
        "warmup_steps": opts.warmup,
        "threads": threads,
        "threads_used": ours["threads_used"],
        "tuned_malloc": opts.malloc_tuned("ours"),
        "baseline_tuned_malloc": opts.malloc_tuned("trainer"),
    }
    if "ours_malloc" in fig:  # the allocator's own effect: ours tuned over ours untuned
        other = fig["ours_malloc"]
        tuned, plain = (ours, other) if opts.tuned_malloc else (other, ours)
        result.update(
            other_malloc_tokens_per_s=other["tokens_per_s"],
            other_malloc_peak_rss_mb=other["peak_rss_mb"],
            other_malloc_round_tokens_per_s=other["round_tokens_per_s"],
            malloc_effect=tuned["tokens_per_s"] / plain["tokens_per_s"],
            paired_malloc_effect=paired_ratio(tuned, plain),
        )
    return result


def side_label(side: str, tuned_malloc: bool) -> str:
    """A side's name in the report; the third side names the allocator it runs with."""
    if side != "ours_malloc":
        return SIDE_LABELS[side]
    return "ours, glibc's default malloc" if tuned_malloc else "ours, GLIBC_TUNABLES"
