"""`babyllama bench train`: our training loop against transformers.Trainer on the same model, data
and batch, in one interleaved run; tokens/s of both, their ratio, MFU and peak RSS.

Each side runs in its own process (core.bench.side), every one with the glibc allocator settings
core.jobs gives training workers (`--no-malloc-tuning`: glibc's defaults for all), and with
`--compile` every one compiled. A third side, ours with the other allocator setting, measures what
the allocator alone is worth (`--no-malloc-effect` drops it). The sides take turns round by round
(one step each by default), so a busy machine slows them alike. Must not import gradio.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path

from core import config as config_mod
from core.bench import require_at_least_one
from core.bench.flops import flops_per_token, matmul_parameters, matmul_peak
from core.config import presets
from core.errors import UserError
from core.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
BENCH_CORPUS, BENCH_TOKENIZER = "bench-syn", "bench-tok"
CORPUS_WORDS = 100_000  # about 1k blocks of 128 tokens: data order never repeats within a short bench
# The targets from the project issue, shown beside the measurements.
TARGET_RATIO, TARGET_MFU, TARGET_RSS_MB = 1.3, 0.75, 2500


SIDE_LABELS = {"ours": "ours (core.train.loop)", "trainer": "transformers.Trainer", "ours_malloc": "ours, other allocator"}
SIDE_KINDS = {"ours": "ours", "trainer": "trainer", "ours_malloc": "ours"}  # core.bench.side's argument


@dataclass(frozen=True)
class BenchOptions:
    """What `bench train` measures; the defaults keep it near 2 minutes on 2 idle CPU cores."""

    preset: str = "llama-10M"
    # Many one-step rounds: on a shared machine, load comes and goes in bursts of seconds; sides
    # alternating step by step see the same bursts (8-step rounds gave one side 536 and 2,412
    # tokens/s in consecutive rounds).
    steps: int = 1  # timed steps per side per round
    rounds: int = 15  # ours, Trainer, ours, Trainer, ...
    warmup: int = 2  # untimed steps per side before the first round
    batch_size: int = 32
    seq_length: int = 128
    vocab_size: int = 16000  # the output layer is ~46 % of llama-10M's FLOPs at 16k: keep it real
    # Every side gets GLIBC_TUNABLES as core.jobs gives workers: comparing loops, not allocators
    # (ours tuned against Trainer untuned measured 1.92x where the same allocator gave 1.04x).
    tuned_malloc: bool = True
    malloc_effect: bool = True  # a third side: ours with the other allocator setting
    bf16: bool = False  # every side under bf16 autocast (CPUs with native bf16 only)
    compile: bool = False  # every side compiled: ours training.torch_compile, Trainer torch_compile

    @property
    def dtype_name(self) -> str:
        return "bf16" if self.bf16 else "fp32"

    def malloc_tuned(self, side: str) -> bool:
        """Whether `side` runs with the job spawner's allocator settings."""
        return self.tuned_malloc != (side == "ours_malloc")

    @property
    def sides(self) -> tuple[str, ...]:
        return ("ours", "trainer", "ours_malloc") if self.malloc_effect else ("ours", "trainer")


def run_bench(opts: BenchOptions, ws: Workspace, log=None) -> dict:
    """Run the bench; returns the result dict (`--json` prints it); progress goes to `log`."""
    import torch

    # warmup >= 1 too: the first step pays for lazy set-up, and its end is the "ready" report.
    require_at_least_one(opts, ("steps", "rounds", "warmup", "batch_size", "seq_length", "vocab_size"))
    if opts.bf16 and not torch.cuda.is_available():
        from core.train.loop import cpu_has_bf16

        if not cpu_has_bf16():
            raise UserError("--bf16: this CPU has no native bfloat16 matmuls (AVX512-BF16 or AMX); bench in fp32 (drop --bf16)")
    if opts.compile:
        from core.train.loop import cpu_can_compile

        if not torch.cuda.is_available() and not cpu_can_compile():
            raise UserError(
                "--compile: torch.compile needs a C++ compiler for CPU kernels (install g++ or set $CXX), or drop --compile"
            )
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    cfg = _bench_config(opts, ws)
    tmp = Path(tempfile.mkdtemp(prefix="babyllama-bench-"))
    try:
        log(f"preparing data ({'reusing' if _has_bench_data(ws) else 'making'} {BENCH_CORPUS} + {BENCH_TOKENIZER})")
        cfg, tokenizer_dir, tokenizer_vocab = _prepare_data(cfg, opts, ws, tmp)
        spec = {
            "config": cfg.to_dict(),
            "blocks": str(tmp / "blocks.pt"),
            "tokenizer": str(tokenizer_dir),
            "warmup": opts.warmup,
            "steps": opts.steps,
            "rounds": opts.rounds,
            "threads": threads,
            "out_dir": str(tmp / "runs"),
        }
        (tmp / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        reports, finals, peaks = _take_turns(opts, cfg, tmp, log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = _summarise(cfg, opts, reports, finals, peaks, tokenizer_vocab, threads)
    result.update(
        seconds=round(time.perf_counter() - started, 1),
        load_avg_before=round(load_before, 2),
        load_avg_after=round(os.getloadavg()[0], 2),
    )
    return result


def _take_turns(opts: BenchOptions, cfg, tmp: Path, log):
    """Start every side, then let them run round by round, one at a time; returns each side's
    reports (round 0 = warm-up), its final report, and the matmul FLOP/s measured before the first
    round and after every round (peaks[r] right after round r)."""
    sides: dict[str, _SideProcess] = {}
    try:
        log(
            f"starting {len(opts.sides)} sides, warming up ({opts.warmup} steps each"
            f"{'; every side compiles first, a minute or more' if opts.compile else ''})"
        )
        for side in opts.sides:
            env = _side_env(opts.malloc_tuned(side))
            sides[side] = _SideProcess(side, SIDE_KINDS[side], tmp / "spec.json", env, tmp / f"{side}.log")
        reports = {side: [proc.read()] for side, proc in sides.items()}
        import torch

        dtype = torch.bfloat16 if opts.bf16 else torch.float32
        # The peak is measured while every side waits: before the first round and after each one,
        # so each round's rate has a peak from the same minute of a machine whose speed drifts.
        # On CUDA the sides train on the GPU, so the peak is the GPU's (a larger product: 2048^3
        # takes microseconds there).
        cuda = torch.cuda.is_available()

        def peak() -> float:
            return matmul_peak(n=8192 if cuda else 2048, dtype=dtype, device="cuda" if cuda else "cpu")

        peaks = [peak()]
        for round_ in range(1, opts.rounds + 1):
            for side, proc in sides.items():  # one side at a time: the others wait on their pipes
                proc.go()
                reports[side].append(proc.read())
                log(
                    f"round {round_}/{opts.rounds} {side_label(side, opts.tuned_malloc)}: "
                    f"{_rate(reports[side][-1], cfg):,.0f} tokens/s"
                )
            peaks.append(peak())
        finals = {}
        for side, proc in sides.items():  # each finishes alone (our loop saves its model)
            proc.go()
            finals[side] = proc.read()
            proc.wait()
        return reports, finals, peaks
    finally:
        for proc in sides.values():
            proc.close()


def _bench_config(opts: BenchOptions, ws: Workspace):
    path = presets.find(opts.preset, ws)
    # fp32 (or bf16 autocast), no accumulation: every side runs the same plain step; Trainer reads
    # training.bf16 and training.torch_compile too (core.bench.side).
    return config_mod.load(
        path,
        [
            f"training.batch_size={opts.batch_size}",
            f"data.seq_length={opts.seq_length}",
            "training.gradient_accumulation_steps=1",
            "training.fp16=false",
            f"training.bf16={str(opts.bf16).lower()}",
            f"training.torch_compile={str(opts.compile).lower()}",
        ],
    )


def _has_bench_data(ws: Workspace) -> bool:
    return (ws.data_dir / BENCH_CORPUS / "manifest.json").is_file() and (
        ws.tokenizers_dir / BENCH_TOKENIZER / "tokenizer.json"
    ).is_file()


@contextmanager
def _quiet():
    """No progress bars and no 'vocab_size is more than this corpus supports' warning: the bench
    reports the vocabulary it uses itself."""
    import datasets

    logger = logging.getLogger("core.tokenizer")
    level, bars = logger.level, datasets.is_progress_bar_enabled()
    logger.setLevel(logging.ERROR)
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        logger.setLevel(level)
        if bars:
            datasets.enable_progress_bars()


def _prepare_data(cfg, opts: BenchOptions, ws: Workspace, tmp: Path):
    """Token blocks saved to tmp/blocks.pt; returns (config with the model's vocab, tokenizer folder,
    tokenizer vocab). Reuses the workspace's bench-syn + bench-tok, else makes them in `tmp`."""
    import torch

    from core.data.synthetic import create_synthetic_corpus
    from core.tokenizer import train_tokenizer
    from core.train.data import load_train_data

    with _quiet():
        if not _has_bench_data(ws):
            # "complex" has the most words, yet BPE still stops near 1k tokens: the model's
            # vocab is then set to opts.vocab_size, leaving unused rows (same FLOPs, same memory).
            ws = Workspace(tmp / "workspace").ensure()
            corpus = create_synthetic_corpus(ws, BENCH_CORPUS, CORPUS_WORDS, "complex", seed=cfg.training.seed)
            train_tokenizer(corpus / "train", ws.tokenizer_dir(BENCH_TOKENIZER), opts.vocab_size, progress=False)
        cfg = config_mod.load(
            base=cfg.to_dict(), overrides=[f"data.train_path={BENCH_CORPUS}", f"data.tokenizer_path={BENCH_TOKENIZER}"]
        )
        data, tokenizer = load_train_data(cfg, ws)
    if len(data.train) < opts.batch_size:
        raise UserError(
            f"bench: {len(data.train)} blocks of {opts.seq_length} tokens is fewer than one batch "
            f"({opts.batch_size}); lower --batch-size or --seq-length"
        )
    torch.save(data.train, tmp / "blocks.pt")
    vocab = max(opts.vocab_size, len(tokenizer))
    cfg = replace(cfg, model=replace(cfg.model, vocab_size=vocab))
    return cfg, ws.tokenizer_dir(BENCH_TOKENIZER), len(tokenizer)


def _side_env(tuned_malloc: bool) -> dict:
    from core.jobs import worker_env

    env = worker_env()
    if not tuned_malloc:
        env.pop("GLIBC_TUNABLES", None)  # glibc's defaults, as a user's own process has
    return env


class _SideProcess:
    """One side's process: send `go`, read its JSON report lines; its stderr goes to a log file."""

    def __init__(self, side: str, kind: str, spec: Path, env: dict, log_path: Path):
        self.side, self.log_path = side, log_path
        self.log = open(log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "core.bench.side", kind, str(spec), side],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            env=env,
            cwd=str(ROOT),
        )

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            tail = self.log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
            raise RuntimeError(f"bench: the {self.side} side ended early (exit code {code}); its log ends with:\n{tail}")
        return json.loads(line)

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def wait(self) -> None:
        if self.proc.wait(timeout=300) != 0:
            self.read()  # raises with the log's tail

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # only on errors: the normal path has waited for it
            self.proc.wait()
        with suppress(BrokenPipeError):  # a dead child: the error that brought us here is raised already
            self.proc.stdin.close()
        self.proc.stdout.close()
        self.log.close()


def _tokens_per_step(cfg) -> int:
    return cfg.training.batch_size * cfg.data.seq_length


def _rate(report: dict, cfg) -> float:
    """Tokens/s of one round: all its steps' tokens over all its steps' time."""
    times = report["step_times"]
    return _tokens_per_step(cfg) * len(times) / sum(times)


def _side_figures(side_reports: list[dict], final: dict, cfg, per_token: int, peak_flops: float) -> dict:
    # The median step of all rounds: a burst of other work on a shared machine moves it little,
    # and taking turns gives every side the same share of such bursts.
    steps = [t for report in side_reports[1:] for t in report["step_times"]]
    rate, best = (_tokens_per_step(cfg) / t for t in (statistics.median(steps), min(steps)))
    return {
        "tokens_per_s": rate,
        "mfu": rate * per_token / peak_flops,
        "peak_rss_mb": final["peak_rss_mb"],
        "best_tokens_per_s": best,
        "best_mfu": best * per_token / peak_flops,
        "training_rss_mb": side_reports[-1]["peak_rss_mb"],  # before the run's end (our final save)
        "round_tokens_per_s": [_rate(r, cfg) for r in side_reports[1:]],
        "step_s": steps,
        "threads_used": side_reports[-1].get("threads"),
    }


def _paired_ratio(side: dict, base: dict) -> float:
    return statistics.median(a / b for a, b in zip(side["round_tokens_per_s"], base["round_tokens_per_s"]))


def _paired_mfu(side: dict, per_token: int, peaks: list[float]) -> float:
    """The median over rounds of a round's FLOP/s over the peak measured right after it."""
    return statistics.median(rate * per_token / peak for rate, peak in zip(side["round_tokens_per_s"], peaks[1:]))


def _summarise(cfg, opts, reports, finals, peaks, tokenizer_vocab, threads) -> dict:
    from core.model.build import count_parameters

    m, vocab = cfg.model, cfg.model.vocab_size
    per_token = flops_per_token(m, vocab, cfg.data.seq_length)
    peak_flops = max(peaks)  # the MFU denominator: the best the machine showed
    fig = {side: _side_figures(reports[side], finals[side], cfg, per_token, peak_flops) for side in reports}
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
        "paired_ratio": _paired_ratio(ours, base),
        # The fastest step of each side: what an idle machine gives.
        "ours_best_tokens_per_s": ours["best_tokens_per_s"],
        "baseline_best_tokens_per_s": base["best_tokens_per_s"],
        "best_ratio": ours["best_tokens_per_s"] / base["best_tokens_per_s"],
        "best_mfu": ours["best_mfu"],
        # The same rate against the peak measured right after each round: on a shared VM whose
        # matmul speed drifts (2048^3 products from 106 to 329 GFLOP/s in one day here), this one
        # compares like with like; `mfu` holds every step to the machine's best moment.
        "paired_mfu": _paired_mfu(ours, per_token, peaks),
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
            paired_malloc_effect=_paired_ratio(tuned, plain),
        )
    return result


def side_label(side: str, tuned_malloc: bool) -> str:
    """A side's name in the report; the third side names the allocator it runs with."""
    if side != "ours_malloc":
        return SIDE_LABELS[side]
    return "ours, glibc's default malloc" if tuned_malloc else "ours, GLIBC_TUNABLES"
