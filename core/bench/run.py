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
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from core import config as config_mod
from core.bench import require_at_least_one
from core.bench.bench_data import BENCH_CORPUS, BENCH_TOKENIZER, has_bench_data, prepare_data
from core.bench.flops import matmul_peak
from core.bench.train_figures import round_rate, side_label, summarise
from core.config import presets
from core.errors import UserError
from core.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
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
        from core.train.machine import cpu_has_bf16

        if not cpu_has_bf16():
            raise UserError("--bf16: this CPU has no native bfloat16 matmuls (AVX512-BF16 or AMX); bench in fp32 (drop --bf16)")
    if opts.compile:
        from core.train.machine import cpu_can_compile

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
        log(f"preparing data ({'reusing' if has_bench_data(ws) else 'making'} {BENCH_CORPUS} + {BENCH_TOKENIZER})")
        cfg, tokenizer_dir, tokenizer_vocab = prepare_data(cfg, ws, tmp, opts.batch_size, opts.seq_length, opts.vocab_size)
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
    result = summarise(cfg, opts, reports, finals, peaks, tokenizer_vocab, threads)
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
                    f"{round_rate(reports[side][-1], cfg):,.0f} tokens/s"
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
