"""`babyllama bench submission`: the strict-small evaluation of an N-checkpoint run, the pipeline's
way against ours, on one random model of a preset and synthetic official-format fast_eval data.

Per checkpoint each side loads the model folder from disk, then scores the zero-shot tasks
(pipeline: exact mode, the pipeline's batches of 64 items and float32 sums; ours: the fast path),
reading (pipeline: the official row loop; ours: batched) and AoA surprisal (pipeline: the official
one-context loop; ours: batched). The same weights stand for every checkpoint; the sides alternate
which goes first. The ratio is given only when the outputs agree. Must not import gradio.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PARTS = ("load", "zero_shot", "reading", "reading_report", "aoa")
READING_AGREE, AOA_AGREE = 1e-5, 1e-3  # nats, as bench eval's reading and AoA parts
MIN_READING_ROWS = 30  # the reading regressions need more rows with every value than terms


@dataclass(frozen=True)
class SubmissionBenchOptions:
    """What `bench submission` measures; the defaults take a few minutes on 2 CPU cores."""

    preset: str = "llama-10M"
    checkpoints: int = 19  # checkpoints evaluated (the same weights stand for each)
    items: int = 8  # items per task file of the synthetic fast_eval (6 files)
    reading_rows: int = 100  # rows of the synthetic reading_data.csv
    aoa_contexts: int = 100  # AoA (context, word) items
    batch_size: int = 64  # our side's batch (the pipeline side keeps its own: 64 items, batch 1 loops)
    device: str = ""
    threads: int = 0  # torch CPU threads; 0 = torch's default


@dataclass
class SideRun:
    """One side at one checkpoint: seconds per part and what it computed."""

    seconds: dict[str, float]
    decisions: dict[str, list[int]]
    scores: list
    pred: list[float]
    prev_pred: list[float]
    report: str
    aoa: list[float]


@dataclass
class Agreement:
    same_decisions: bool = True
    reading_diff: float = 0.0
    same_report: bool = True
    aoa_diff: float = 0.0
    zero_shot_diff: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        return not self.problems


def _check(opts: SubmissionBenchOptions) -> None:
    from core.bench import require_at_least_one

    require_at_least_one(opts, ("checkpoints", "items", "aoa_contexts", "batch_size"))
    if opts.reading_rows < MIN_READING_ROWS:
        from core.errors import UserError

        raise UserError(
            f"--reading-rows: {opts.reading_rows} is too few for the reading regressions; give at least {MIN_READING_ROWS}"
        )


def _save_random_model(opts: SubmissionBenchOptions, sentences: list[str], ws, folder: Path) -> tuple[int, int]:
    """A random model of the preset and a tokenizer trained on the data, saved as one model folder."""
    import torch

    from core import config as config_mod
    from core.config import presets
    from core.model.build import build_model
    from core.tokenizer import load_tokenizer, train_tokenizer

    text = folder.parent / "sentences.txt"
    text.write_text("\n".join(sentences) + "\n", encoding="utf-8")
    train_tokenizer(text, folder.parent / "tok", vocab_size=2000, min_frequency=2, progress=False)
    tokenizer = load_tokenizer(folder.parent / "tok")
    cfg = config_mod.load(presets.resolve_config_path(opts.preset, ws))
    torch.manual_seed(0)
    model = build_model(cfg.model, len(tokenizer))
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return sum(p.numel() for p in model.parameters()), len(tokenizer)


def _zero_shot(model, tokenizer, plan, exact: bool, batch_size: int) -> list:
    from core.bench import babylm as babylm_bench
    from core.evaluate.babylm.scorer import encode_all

    sentences = [s for t in plan.tasks for it in t.items for s in it.sentences]
    completions = [c for t in plan.tasks for it in t.items for c in it.completions]
    encoded = encode_all(tokenizer, sentences, completions)
    if exact:
        return babylm_bench._score_exact(model, tokenizer, encoded, plan)[1]
    return babylm_bench._score_fast(model, encoded, plan, batch_size)[1]


def _reading(model, tokenizer, data, pipeline: bool, batch_size: int) -> tuple[list, list]:
    from core.bench import reading as reading_bench
    from core.evaluate.babylm import reading

    if pipeline:
        pred, prev = reading_bench.official_surprisals(model, tokenizer, data.frame)
    else:
        s = reading.surprisals(model, tokenizer, data, batch_size)
        pred, prev = s.pred, s.prev_pred
    return list(pred), list(prev)


def _reading_report(data, pred, prev) -> str:
    """The regressions and report.txt: the same code on both sides (the pipeline's statistics)."""
    from core.evaluate.babylm import reading_stats

    return reading_stats.evaluate(data.frame, pred, prev).files["report.txt"]


def _aoa(model, tokenizer, contexts, words, pipeline: bool, batch_size: int) -> list[float]:
    from core.bench import aoa as aoa_bench
    from core.evaluate.babylm.aoa_surprisal import encode, surprisals

    if pipeline:
        return aoa_bench.official_loop(model, tokenizer, contexts, words)
    return surprisals(model, encode(tokenizer, contexts, words), batch_size)


def run_side(pipeline: bool, folder: Path, ws, plan, aoa_items, opts: SubmissionBenchOptions) -> SideRun:
    """Load the checkpoint, then its three parts, each timed (the device synced before each clock read)."""
    from core.bench.babylm import _decisions
    from core.evaluate.scoring import sync
    from core.generate import load_model

    seconds = {}
    started = time.perf_counter()
    model, tokenizer = load_model(str(folder), ws, device=opts.device or None)
    sync(model.device)
    seconds["load"] = time.perf_counter() - started

    def timed(part, fn, *args):
        started = time.perf_counter()
        out = fn(*args)
        sync(model.device)
        seconds[part] = time.perf_counter() - started
        return out

    scores = timed("zero_shot", _zero_shot, model, tokenizer, plan, pipeline, opts.batch_size)
    pred, prev = timed("reading", _reading, model, tokenizer, plan.reading, pipeline, opts.batch_size)
    report = timed("reading_report", _reading_report, plan.reading, pred, prev)
    values = timed("aoa", _aoa, model, tokenizer, *aoa_items, pipeline, opts.batch_size)
    return SideRun(seconds, _decisions(plan, scores), scores, pred, prev, report, list(values))


def compare(pipe: SideRun, ours: SideRun, agreement: Agreement) -> None:
    """Fold one checkpoint's outputs into `agreement` (problems named, once each)."""
    from core.bench.reading import _max_diff

    def problem(text):
        if text not in agreement.problems:
            agreement.problems.append(text)

    agreement.zero_shot_diff = max(
        agreement.zero_shot_diff, max((abs(a - b) for x, y in zip(pipe.scores, ours.scores) for a, b in zip(x, y)), default=0.0)
    )
    if pipe.decisions != ours.decisions:
        agreement.same_decisions = False
        problem("zero-shot: exact and fast decide some items differently")
    diff = max(_max_diff(pipe.pred, ours.pred), _max_diff(pipe.prev_pred, ours.prev_pred))
    agreement.reading_diff = max(agreement.reading_diff, diff)
    if diff > READING_AGREE:
        problem(f"reading: surprisals differ by more than {READING_AGREE:g} nats")
    if pipe.report != ours.report:
        agreement.same_report = False
        problem("reading: the two report.txt differ")
    diff = _max_diff(pipe.aoa, ours.aoa) if len(pipe.aoa) == len(ours.aoa) else math.inf
    agreement.aoa_diff = max(agreement.aoa_diff, diff)
    if diff > AOA_AGREE:
        problem(f"AoA: surprisals differ by more than {AOA_AGREE:g} nats")


def run_submission_bench(opts: SubmissionBenchOptions, ws, log=print) -> dict:
    """Measure both sides over `opts.checkpoints` checkpoints; returns the dict `--json` prints."""
    _check(opts)
    import torch

    from core.bench.reading import write_synthetic_csv
    from core.bench.submission_data import write_fast_eval
    from core.evaluate.babylm import suite

    if opts.threads:
        torch.set_num_threads(opts.threads)
    tmp = Path(tempfile.mkdtemp(prefix="babyllama-bench-submission-"))
    try:
        data = write_fast_eval(tmp, opts.items, opts.aoa_contexts)
        write_synthetic_csv(data.sentences, data.root / "fast_eval" / "reading" / "reading_data.csv", opts.reading_rows)
        plan = suite.plan(data.root, fast=True)
        n_params, vocab = _save_random_model(opts, data.sentences, ws, tmp / "model")
        log(
            f"random {opts.preset}: {n_params:,} parameters, {vocab:,}-token vocabulary; "
            f"{sum(len(t.items) for t in plan.tasks)} zero-shot items in {len(plan.tasks)} tasks, "
            f"{len(plan.reading.frame)} reading rows, {len(data.aoa_contexts)} AoA contexts"
        )
        aoa_items = (data.aoa_contexts, data.aoa_words)
        times = {"pipeline": {p: [] for p in PARTS}, "ours": {p: [] for p in PARTS}}
        agreement = Agreement()
        for k in range(opts.checkpoints):
            runs = {}
            for side in ("pipeline", "ours") if k % 2 == 0 else ("ours", "pipeline"):
                runs[side] = run_side(side == "pipeline", tmp / "model", ws, plan, aoa_items, opts)
                for part in PARTS:
                    times[side][part].append(runs[side].seconds[part])
            compare(runs["pipeline"], runs["ours"], agreement)
            log(
                f"checkpoint {k + 1}/{opts.checkpoints}: pipeline {sum(runs['pipeline'].seconds.values()):.2f} s, "
                f"ours {sum(runs['ours'].seconds.values()):.2f} s"
            )
        return _result(opts, times, agreement, n_params, vocab, plan, data, str(torch.get_num_threads()))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _result(opts, times, agreement: Agreement, n_params, vocab, plan, data, threads) -> dict:
    totals = {side: sum(sum(v) for v in parts.values()) for side, parts in times.items()}
    return {
        "preset": opts.preset,
        "n_params": n_params,
        "vocab": vocab,
        "checkpoints": opts.checkpoints,
        "threads": threads,
        "device": opts.device or "default",
        "zero_shot_items": sum(len(t.items) for t in plan.tasks),
        "tasks": [t.label for t in plan.tasks],
        "reading_rows": len(plan.reading.frame),
        "aoa_contexts": len(data.aoa_contexts),
        "seconds": {side: {p: sum(v) for p, v in parts.items()} for side, parts in times.items()},
        "per_checkpoint": {side: {p: sum(v) / len(v) for p, v in parts.items()} for side, parts in times.items()},
        "total_s": totals,
        "agree": agreement.agree,
        "problems": agreement.problems,
        "same_decisions": agreement.same_decisions,
        "zero_shot_max_diff": agreement.zero_shot_diff,
        "reading_max_diff": agreement.reading_diff,
        "same_report": agreement.same_report,
        "aoa_max_diff": agreement.aoa_diff,
        "ratio": totals["pipeline"] / totals["ours"] if agreement.agree else None,
    }


def format_report(r: dict) -> str:
    """The table `bench submission` prints without --json."""
    names = {
        "load": "load (once per checkpoint)",
        "zero_shot": "zero-shot (exact vs fast)",
        "reading": "reading surprisals (official vs batched)",
        "reading_report": "reading regressions (same code)",
        "aoa": "AoA (official loop vs batched)",
    }
    n = r["checkpoints"]
    lines = [
        f"random {r['preset']} ({r['n_params']:,} parameters, {r['vocab']:,}-token vocabulary), {r['threads']} "
        f"threads; {r['zero_shot_items']} zero-shot items ({', '.join(r['tasks'])}), {r['reading_rows']} reading "
        f"rows, {r['aoa_contexts']} AoA contexts; {n} checkpoints measured",
        f"{'part':<42} {'pipeline s/ckpt':>16} {'ours s/ckpt':>12} {'pipeline x' + str(n):>14} {'ours x' + str(n):>10}",
    ]
    for part in PARTS:
        p, o = r["per_checkpoint"]["pipeline"][part], r["per_checkpoint"]["ours"][part]
        lines.append(
            f"{names[part]:<42} {p:>16.3f} {o:>12.3f} {r['seconds']['pipeline'][part]:>14.2f} {r['seconds']['ours'][part]:>10.2f}"
        )
    tp, to = r["total_s"]["pipeline"], r["total_s"]["ours"]
    lines.append(f"{'total':<42} {tp / n:>16.3f} {to / n:>12.3f} {tp:>14.2f} {to:>10.2f}")
    lines.append(
        f"outputs: zero-shot decisions same: {r['same_decisions']} (largest score difference "
        f"{r['zero_shot_max_diff']:.1e}); reading largest difference {r['reading_max_diff']:.1e} nats, same "
        f"report.txt: {r['same_report']}; AoA largest difference {r['aoa_max_diff']:.1e} nats"
    )
    lines.append(
        f"ratio (pipeline total / ours): {r['ratio']:.2f}x" if r["ratio"] is not None else "no ratio: " + "; ".join(r["problems"])
    )
    return "\n".join(lines)
