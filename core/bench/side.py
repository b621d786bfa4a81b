"""One side of `babyllama bench train` in its own process: our loop or transformers.Trainer.

`python -m core.bench.side {ours|trainer} SPEC_JSON [NAME]` (NAME: its output folder, default the
kind; two sides of one kind differ in their allocator). The parent (core.bench.run) starts every
side and lets them take turns: each side runs its warm-up steps, reports,
then waits for a `go` line on stdin before every round of timed steps. Step times are the gaps
between step-end timestamps, so set-up, pauses and our loop's final save never count.
Protocol: one JSON object per line on the original stdout; anything else printed goes to stderr.
Must not import gradio.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from core.bench.flops import peak_rss_mb

SIDES = ("ours", "trainer")


class Gate:
    """Times every optimizer step and, at each round's end, reports and waits for the parent."""

    def __init__(self, warmup: int, steps: int, rounds: int, reply, commands):
        # Step count at which each round ends; round 0 is the warm-up.
        self.ends = {warmup + k * steps: k for k in range(rounds + 1)}
        self.rounds, self.reply, self.commands = rounds, reply, commands
        self.times: list[float] = []
        self.last = time.perf_counter()

    @property
    def total_steps(self) -> int:
        return max(self.ends)

    def begin(self) -> None:
        self.last = time.perf_counter()

    def step_end(self, step: int) -> None:
        now = time.perf_counter()
        self.times.append(now - self.last)
        round_ = self.ends.get(step)
        if round_ is not None:
            send(
                self.reply,
                {
                    "round": round_,
                    "step": step,
                    "step_times": self.times,
                    "peak_rss_mb": peak_rss_mb(),
                    "threads": torch.get_num_threads(),
                },
            )
            self.times = []
            # Wait even after the last round: finishing (our loop's save) must not overlap the
            # other side's timed steps.
            line = self.commands.readline()
            if line.strip() != "go":  # the parent went away: stop here
                raise SystemExit(f"bench side: expected 'go' from the parent, got {line!r}")
            now = time.perf_counter()  # the pause is not part of the next step
        self.last = now


def send(stream, payload: dict) -> None:
    stream.write(json.dumps(payload) + "\n")
    stream.flush()


def _loop_timer(gate: Gate):
    from core.train.callbacks import Callback

    class LoopTimer(Callback):
        def on_train_begin(self, state, control) -> None:
            gate.begin()

        def on_step_end(self, state, control) -> None:
            gate.step_end(state.step)

    return LoopTimer()


def run_ours(cfg, blocks: torch.Tensor, tokenizer, out_dir: Path, gate: Gate) -> None:
    """core.train.loop.train() exactly as a job runs it, bounded to the bench's steps."""
    from core.train.loop import TrainData, train

    # No per-step logging sync; the run ends (and saves, untimed) after the last round.
    t = replace(cfg.training, max_steps=gate.total_steps, logging_steps=10**9)
    train(replace(cfg, training=t), TrainData(train=blocks, eval=None), tokenizer, out_dir, [_loop_timer(gate)])


class _Blocks(torch.utils.data.Dataset):
    """Token blocks as the examples Trainer expects: input_ids and labels (the same tensor)."""

    def __init__(self, blocks: torch.Tensor):
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> dict:
        return {"input_ids": self.blocks[i], "labels": self.blocks[i]}


def run_trainer(cfg, blocks: torch.Tensor, out_dir: Path, gate: Gate) -> None:
    """transformers.Trainer with default arguments, apart from what a bench must pin down: the
    batch, bf16 and torch_compile as our side runs them."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from core.model.build import build_model

    class TrainerTimer(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            gate.begin()

        def on_step_end(self, args, state, control, **kwargs):
            gate.step_end(state.global_step)

    torch.manual_seed(cfg.training.seed)  # the same initial weights as our loop builds
    model = build_model(cfg.model, cfg.model.vocab_size)
    args = TrainingArguments(
        output_dir=str(out_dir),
        per_device_train_batch_size=cfg.training.batch_size,
        max_steps=gate.total_steps,
        report_to=[],
        save_strategy="no",
        logging_steps=10**9,
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),  # the device our loop takes
        bf16=cfg.training.bf16,
        torch_compile=cfg.training.torch_compile,
    )
    Trainer(model=model, args=args, train_dataset=_Blocks(blocks), callbacks=[TrainerTimer()]).train()


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or argv[0] not in SIDES:
        raise SystemExit(f"usage: python -m core.bench.side {{{'|'.join(SIDES)}}} SPEC_JSON [NAME]")
    side, spec_path = argv[:2]
    name = argv[2] if len(argv) == 3 else side
    # The protocol keeps the real stdout; stray prints (libraries, warnings) go to stderr.
    reply = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    torch.set_num_threads(spec["threads"])

    from core import config as config_mod

    cfg = config_mod.from_dict(spec["config"])
    blocks = torch.load(spec["blocks"])
    gate = Gate(spec["warmup"], spec["steps"], spec["rounds"], reply, sys.stdin)
    out_dir = Path(spec["out_dir"]) / name
    if side == "trainer":
        run_trainer(cfg, blocks, out_dir, gate)
    else:
        from transformers import AutoTokenizer

        run_ours(cfg, blocks, AutoTokenizer.from_pretrained(spec["tokenizer"]), out_dir, gate)
    send(reply, {"done": True, "peak_rss_mb": peak_rss_mb()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
