"""The human-readable report of `babyllama bench train` (core.bench.train_figures' result dict).

Text only: no torch, no processes. Must not import gradio.
"""

from __future__ import annotations

from core.bench.train_figures import SIDE_LABELS, TARGET_MFU, TARGET_RATIO, TARGET_RSS_MB, side_label


def _malloc_of(tuned: bool) -> str:
    return "GLIBC_TUNABLES as for jobs" if tuned else "glibc's default malloc"


def _row(label: str, rate: float, rounds: list[float]) -> str:
    return f"{label:<30}{rate:>9,.0f} tokens/s   rounds: {' '.join(f'{v:,.0f}' for v in rounds)}"


def _header(r: dict) -> list[str]:
    from core.model.build import human

    unused = (
        f"; the tokenizer has {r['tokenizer_vocab']:,} tokens, so {r['unused_vocab_rows']:,} output rows "
        "are unused (same FLOPs and memory)"
        if r["unused_vocab_rows"]
        else ""
    )
    tuned, base_tuned = r["tuned_malloc"], r.get("baseline_tuned_malloc", False)
    malloc = (
        f"{_malloc_of(tuned)} on both sides"
        if tuned == base_tuned
        else f"ours: {_malloc_of(tuned)}, Trainer: {_malloc_of(base_tuned)} (NOT like for like)"
    )
    return [
        f"bench train: {r['preset']} ({r['model_type']}, {human(r['parameters'])} parameters, vocab {r['vocab_size']:,}{unused})",
        f"  batch {r['batch_size']} x {r['seq_length']} tokens, {r.get('dtype', 'fp32')}, {r['threads']} threads, {malloc};"
        + (" both sides compiled (training.torch_compile; Trainer torch_compile=True);" if r.get("compiled") else ""),
        f"  {r['rounds']} rounds x {r['steps_per_round']} steps after {r['warmup_steps']} warm-up step(s), "
        "sides taking turns; tokens/s from the median step",
    ]


def _malloc_lines(r: dict) -> list[str]:
    if "malloc_effect" not in r:
        return []
    label = side_label("ours_malloc", r["tuned_malloc"])
    return [
        _row(label, r["other_malloc_tokens_per_s"], r["other_malloc_round_tokens_per_s"]),
        f"{'allocator effect (ours)':<30}{r['malloc_effect']:>9.2f}x          GLIBC_TUNABLES over glibc's default "
        f"(round by round {r['paired_malloc_effect']:.2f}x; peak RSS {r['other_malloc_peak_rss_mb']:,.0f} MB "
        f"with the {'default' if r['tuned_malloc'] else 'tuned'} one); not part of the ratio above",
    ]


def format_report(r: dict) -> str:
    """The human-readable report of a result dict."""
    from core.model.build import human

    lines = _header(r) + [
        _row(SIDE_LABELS["ours"], r["ours_tokens_per_s"], r["ours_round_tokens_per_s"]),
        _row(SIDE_LABELS["trainer"], r["baseline_tokens_per_s"], r["baseline_round_tokens_per_s"]),
        f"{'ratio ours / Trainer':<30}{r['ratio']:>9.2f}x          (target >= {TARGET_RATIO}x; "
        f"round by round {r['paired_ratio']:.2f}x)",
        *_malloc_lines(r),
        f"{'MFU ours':<30}{100 * r['mfu']:>9.1f} %          (target >= {100 * TARGET_MFU:.0f} %; Trainer "
        f"{100 * r['baseline_mfu']:.1f} %)",
        f"  against a measured {r.get('dtype', 'fp32')} matmul peak of {r['matmul_peak_gflops']:.1f} GFLOP/s "
        "(2048^3 on CPU, 8192^3 on CUDA; the best of the measurements between rounds);",
        f"  {r['model_flops_per_token'] / 1e6:.1f} MFLOP/token = 6 x {human(r['matmul_parameters'])} matmul parameters "
        "(all but the input embedding) + 12 x layers x hidden x seq (attention)",
    ]
    peaks = r.get("matmul_peaks_gflops") or []
    if len(peaks) > 1:
        lines.append(
            f"  the peak ranged {min(peaks):.0f}-{max(peaks):.0f} GFLOP/s; against the one measured right "
            f"after each round, MFU {100 * r['paired_mfu']:.1f} % (median of rounds)"
        )
    lines += [
        f"{'peak RSS ours':<30}{r['peak_rss_mb']:>9,.0f} MB         (target <= {TARGET_RSS_MB:,} MB; Trainer "
        f"{r['baseline_peak_rss_mb']:,.0f} MB)",
        f"{'fastest step (idle machine)':<30}ours {r['ours_best_tokens_per_s']:,.0f}, Trainer "
        f"{r['baseline_best_tokens_per_s']:,.0f} tokens/s: {r['best_ratio']:.2f}x, MFU {100 * r['best_mfu']:.1f} %",
        f"took {r['seconds']:.0f} s; load average {r['load_avg_before']:.1f} before, "
        f"{r['load_avg_after']:.1f} after (a busy machine lowers every figure, the ratio least)",
    ]
    return "\n".join(lines)
