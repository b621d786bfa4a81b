"""`babyllama bench train`: our training loop against transformers.Trainer on the same model, data
and batch, in one interleaved run; tokens/s of both, their ratio, MFU and peak RSS.

Each side runs in its own process (core.bench.side) started with the same environment, including
the glibc allocator settings the job spawner gives workers, and the two take turns round by
round, so a busy machine slows both alike. Must not import gradio.
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
from core import presets
from core.bench.flops import flops_per_token, matmul_parameters, matmul_peak
from core.errors import UserError
from core.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
BENCH_CORPUS, BENCH_TOKENIZER = "bench-syn", "bench-tok"
CORPUS_WORDS = 100_000  # about 1k blocks of 128 tokens: data order never repeats within a short bench
# The targets from the project issue, shown beside the measurements.
TARGET_RATIO, TARGET_MFU, TARGET_RSS_MB = 1.3, 0.75, 2500


@dataclass(frozen=True)
class BenchOptions:
    """What `bench train` measures; the defaults keep it under about 3 minutes on 2 CPU cores."""

    preset: str = "llama-10M"
    steps: int = 5             # timed steps per side per round
    rounds: int = 3            # ours, Trainer, ours, Trainer, ...
    warmup: int = 2            # untimed steps per side before the first round
    batch_size: int = 32
    seq_length: int = 128
    vocab_size: int = 16000    # the output layer is ~46 % of llama-10M's FLOPs at 16k: keep it real
    tuned_malloc: bool = True  # GLIBC_TUNABLES as core.jobs gives workers, for both sides


def run_bench(opts: BenchOptions, ws: Workspace, log=None) -> dict:
    """Run the bench; returns the result dict (`--json` prints it); progress goes to `log`."""
    import torch

    for name in ("steps", "rounds", "batch_size", "seq_length", "vocab_size"):
        if getattr(opts, name) < 1:
            raise UserError(f"--{name.replace('_', '-')}: {getattr(opts, name)} must be at least 1")
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    cfg = _bench_config(opts, ws)
    tmp = Path(tempfile.mkdtemp(prefix="babyllama-bench-"))
    sides: dict[str, _SideProcess] = {}
    try:
        log(f"preparing data ({'reusing' if _has_bench_data(ws) else 'making'} {BENCH_CORPUS} + {BENCH_TOKENIZER})")
        cfg, tokenizer_dir, tokenizer_vocab = _prepare_data(cfg, opts, ws, tmp)
        spec = {"config": cfg.to_dict(), "blocks": str(tmp / "blocks.pt"), "tokenizer": str(tokenizer_dir),
                "warmup": opts.warmup, "steps": opts.steps, "rounds": opts.rounds, "threads": threads,
                "out_dir": str(tmp / "runs")}
        (tmp / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
        env = _side_env(opts.tuned_malloc)
        log(f"starting both sides and warming up ({opts.warmup} steps each)")
        for side in ("ours", "trainer"):
            sides[side] = _SideProcess(side, tmp / "spec.json", env, tmp / f"{side}.log")
        reports = {side: [proc.read()] for side, proc in sides.items()}  # round 0: warm-up done
        peaks = [matmul_peak()]
        for round_ in range(1, opts.rounds + 1):
            for side, proc in sides.items():  # one side at a time: the other waits on its pipe
                proc.go()
                reports[side].append(proc.read())
                log(f"round {round_}/{opts.rounds} {side}: {_rate(reports[side][-1], cfg):,.0f} tokens/s")
            peaks.append(matmul_peak())
        finals = {}
        for side, proc in sides.items():  # let each finish alone (our loop saves its model)
            proc.go()
            finals[side] = proc.read()
            proc.wait()
    finally:
        for proc in sides.values():
            proc.close()
        shutil.rmtree(tmp, ignore_errors=True)
    result = _summarise(cfg, opts, reports, finals, max(peaks), tokenizer_vocab, threads)
    result.update(seconds=round(time.perf_counter() - started, 1), load_avg_before=round(load_before, 2),
                  load_avg_after=round(os.getloadavg()[0], 2))
    return result


def _bench_config(opts: BenchOptions, ws: Workspace):
    path = presets.find(opts.preset, ws)
    # fp32, no accumulation, no compile: both sides run the identical plain step.
    return config_mod.load(path, [f"training.batch_size={opts.batch_size}", f"data.seq_length={opts.seq_length}",
                                  "training.gradient_accumulation_steps=1", "training.fp16=false",
                                  "training.bf16=false", "training.torch_compile=false"])


def _has_bench_data(ws: Workspace) -> bool:
    return ((ws.data_dir / BENCH_CORPUS / "manifest.json").is_file()
            and (ws.tokenizers_dir / BENCH_TOKENIZER / "tokenizer.json").is_file())


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
        cfg = config_mod.load(base=cfg.to_dict(), overrides=[f"data.train_path={BENCH_CORPUS}",
                                                             f"data.tokenizer_path={BENCH_TOKENIZER}"])
        data, tokenizer = load_train_data(cfg, ws)
    if len(data.train) < opts.batch_size:
        raise UserError(f"bench: {len(data.train)} blocks of {opts.seq_length} tokens is fewer than one batch "
                        f"({opts.batch_size}); lower --batch-size or --seq-length")
    torch.save(data.train, tmp / "blocks.pt")
    vocab = max(opts.vocab_size, len(tokenizer))
    cfg = replace(cfg, model=replace(cfg.model, vocab_size=vocab))
    return cfg, ws.tokenizer_dir(BENCH_TOKENIZER), len(tokenizer)


def _side_env(tuned_malloc: bool) -> dict:
    from core.jobs import WORKER_ENV

    env = dict(os.environ, TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env.pop("GLIBC_TUNABLES", None)
    if tuned_malloc:
        env["GLIBC_TUNABLES"] = WORKER_ENV["GLIBC_TUNABLES"]
    return env


class _SideProcess:
    """One side's process: send `go`, read its JSON report lines; its stderr goes to a log file."""

    def __init__(self, side: str, spec: Path, env: dict, log_path: Path):
        self.side, self.log_path = side, log_path
        self.log = open(log_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen([sys.executable, "-m", "core.bench.side", side, str(spec)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     text=True, env=env, cwd=str(ROOT))

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


def _summarise(cfg, opts, reports, finals, peak_flops, tokenizer_vocab, threads) -> dict:
    m, vocab = cfg.model, cfg.model.vocab_size
    per_token = flops_per_token(m, vocab, cfg.data.seq_length)
    rates = {side: [_rate(r, cfg) for r in runs[1:]] for side, runs in reports.items()}
    ours, baseline = (statistics.median(rates[s]) for s in ("ours", "trainer"))
    from core.models import count_parameters

    return {
        "ours_tokens_per_s": ours, "baseline_tokens_per_s": baseline, "ratio": ours / baseline,
        "mfu": ours * per_token / peak_flops, "peak_rss_mb": finals["ours"]["peak_rss_mb"],
        "baseline_mfu": baseline * per_token / peak_flops,
        "baseline_peak_rss_mb": finals["trainer"]["peak_rss_mb"],
        "ours_round_tokens_per_s": rates["ours"], "baseline_round_tokens_per_s": rates["trainer"],
        "ours_step_s": [t for r in reports["ours"][1:] for t in r["step_times"]],
        "baseline_step_s": [t for r in reports["trainer"][1:] for t in r["step_times"]],
        "ours_rss_by_round_mb": [r["peak_rss_mb"] for r in reports["ours"]],
        "baseline_rss_by_round_mb": [r["peak_rss_mb"] for r in reports["trainer"]],
        "matmul_peak_gflops": peak_flops / 1e9, "model_flops_per_token": per_token,
        "flops_formula": "6 * matmul_parameters + 12 * n_layer * hidden_size * seq_length",
        "parameters": count_parameters(m, vocab), "matmul_parameters": matmul_parameters(m, vocab),
        "preset": opts.preset, "model_type": m.type, "vocab_size": vocab, "tokenizer_vocab": tokenizer_vocab,
        "unused_vocab_rows": vocab - tokenizer_vocab, "batch_size": cfg.training.batch_size,
        "seq_length": cfg.data.seq_length, "steps_per_round": opts.steps, "rounds": opts.rounds,
        "warmup_steps": opts.warmup, "threads": threads, "tuned_malloc": opts.tuned_malloc,
    }


def format_report(r: dict) -> str:
    """The human-readable report of a result dict."""
    from core.models import human

    def rounds(values):
        return " ".join(f"{v:,.0f}" for v in values)

    unused = (f"; the tokenizer has {r['tokenizer_vocab']:,} tokens, so {r['unused_vocab_rows']:,} output rows "
              "are unused (same FLOPs and memory)" if r["unused_vocab_rows"] else "")
    malloc = "GLIBC_TUNABLES as for jobs" if r["tuned_malloc"] else "default glibc malloc"
    return "\n".join([
        f"bench train: {r['preset']} ({r['model_type']}, {human(r['parameters'])} parameters, vocab {r['vocab_size']:,}{unused})",
        f"  batch {r['batch_size']} x {r['seq_length']} tokens, fp32, {r['threads']} threads, {malloc} on both sides",
        f"  {r['rounds']} rounds x {r['steps_per_round']} steps after {r['warmup_steps']} warm-up steps, "
        f"interleaved ours / Trainer; median of rounds",
        f"ours (core.train.loop)    {r['ours_tokens_per_s']:>10,.0f} tokens/s   rounds: {rounds(r['ours_round_tokens_per_s'])}",
        f"transformers.Trainer      {r['baseline_tokens_per_s']:>10,.0f} tokens/s   rounds: {rounds(r['baseline_round_tokens_per_s'])}",
        f"ratio ours / Trainer      {r['ratio']:>10.2f}x         (target >= {TARGET_RATIO}x)",
        f"MFU ours                  {100 * r['mfu']:>10.1f} %         (target >= {100 * TARGET_MFU:.0f} %; Trainer "
        f"{100 * r['baseline_mfu']:.1f} %)",
        f"  of a measured fp32 matmul peak of {r['matmul_peak_gflops']:.1f} GFLOP/s (2048^3, best of the runs); "
        f"{r['model_flops_per_token'] / 1e6:.1f} MFLOP/token",
        f"  = 6 x {human(r['matmul_parameters'])} matmul parameters (all but the input embedding) "
        "+ 12 x layers x hidden x seq (attention)",
        f"peak RSS ours             {r['peak_rss_mb']:>10,.0f} MB        (target <= {TARGET_RSS_MB:,} MB; Trainer "
        f"{r['baseline_peak_rss_mb']:,.0f} MB)",
        f"took {r['seconds']:.0f} s; load average {r['load_avg_before']:.1f} before, {r['load_avg_after']:.1f} after "
        f"(other work on the machine slows both sides alike)",
    ])
