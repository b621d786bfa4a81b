"""The training loop: one linear function over a transformers causal LM, driven by accelerate.

Read `_loop()` (what `train()` runs) top to bottom: set-up, (resume), then one `while` loop of
optimizer steps. Set-up pieces live beside it: the accelerator and precision (`machine`), the
optimizer and schedule (`optim`), resume and checkpoint saves (`resume`), eval loss and samples
(`evaluation`). Everything that observes or steers the run is a callback (core.train.callbacks); this module
never touches the database, the UI or job files. Must not import gradio or core.history.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Sequence

import torch

from core.config import RunConfig
from core.model.build import build_model
from core.train import checkpoint as ckpt
from core.train.best import KeepBest
from core.train.callbacks import CallbackList, Schedule, TrainControl, TrainState
from core.train.evaluation import evaluate, generate_samples
from core.train.fused_loss import FusedLossModel
from core.train.machine import check_ranks_in_sync, make_accelerator, ordered_cpu_kernels, unwrap
from core.train.optim import make_optimizer, make_scheduler
from core.train.order import epoch_batches, usable_blocks
from core.train.resume import restore, save_step
from core.train.word_marks import forecast, mark_name, parse_marks

if TYPE_CHECKING:
    from core.train.probes import Probe


@dataclass
class TrainData:
    """Token blocks ready for training: `train` and `eval` are int64 tensors [n, seq_length]."""

    train: torch.Tensor
    eval: torch.Tensor | None
    words_per_token: float = 0.75  # corpus words / tokens, to report "words seen"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def train(
    cfg: RunConfig,
    data: TrainData,
    tokenizer,
    run_dir: Path,
    callbacks: list,
    *,
    resume_from: Path | None = None,
    accelerator=None,
    objective=None,
    probes: Sequence[Probe] = (),
) -> str:
    """Train (or resume) a run; returns its final status: "finished" or "stopped".

    `objective(lm)` wraps the model in the module whose forward returns the training loss:
    `FusedLossModel` by default, `core.train.distill.DistillLossModel` for distillation.
    `probes` measure the plain LM on their own schedule (core.train.probes: minimal pairs).
    """
    if accelerator is None:
        accelerator, cfg, _ = make_accelerator(cfg)
    with ordered_cpu_kernels(cfg.training.torch_compile and accelerator.device.type == "cpu"):
        return _loop(cfg, data, tokenizer, Path(run_dir), callbacks, accelerator, resume_from, objective, probes)


def _loop(
    cfg: RunConfig,
    data: TrainData,
    tokenizer,
    run_dir: Path,
    callbacks: list,
    accelerator,
    resume_from: Path | None,
    objective,
    probes: Sequence[Probe],
) -> str:
    """train() itself: set-up, (resume), then one `while` loop of optimizer steps."""
    t = cfg.training
    # The schedule (evaluate/save every N steps) comes first, as Trainer's DefaultFlowCallback.
    # keep_best next: it turns each evaluation into a checkpoint and keeps the best one's weights.
    best = [KeepBest(run_dir, t.keep_best)] if t.keep_best != "none" else []
    cbs = CallbackList([Schedule(t.eval_steps, t.save_steps), *best, *callbacks])
    world, rank = accelerator.num_processes, accelerator.process_index

    # Same seed -> same initial weights and data order on every process and every resume.
    torch.manual_seed(t.seed)
    vocab = cfg.model.vocab_size or len(tokenizer)
    lm = build_model(cfg.model, vocab)

    # Weight decay on the matrices only, as nanoGPT and HF: norm gains are scales that sit near 1,
    # and decay would drag them toward 0 (core.train.optim).
    optimizer = make_optimizer(lm, t)

    # Steps, not samples, are the unit of the schedule, the checkpoints and resume, so an epoch is a
    # whole number of optimizer steps (each takes batch_size x accumulation sequences per process);
    # a corpus too small for one step is refused here with the fix, not run as an empty loop.
    seqs_per_step = t.batch_size * t.gradient_accumulation_steps * world
    steps_per_epoch = usable_blocks(len(data.train), cfg.data.random_offset) // seqs_per_step
    if steps_per_epoch == 0:
        raise ValueError(
            f"the training split has {len(data.train)} sequences of {cfg.data.seq_length} tokens, "
            f"fewer than one optimizer step needs ({seqs_per_step}); lower training.batch_size, "
            "gradient_accumulation_steps or data.seq_length, or use more data"
        )
    max_steps = t.max_steps or steps_per_epoch * t.num_epochs
    scheduler = make_scheduler(t.lr_scheduler, optimizer, t.warmup_steps, max_steps)

    progress = ckpt.Progress()
    if resume_from is not None:
        # Weights, optimizer moments, schedule, RNG and data position: an exact continuation.
        progress = restore(resume_from, lm, optimizer, scheduler)

    # The model's forward returns the loss without materialising batch x seq x vocab logits
    # (core.train.fused_loss: same value and gradients, less memory, faster). The wrapper is
    # what accelerate prepares, so DDP sees the whole forward; `unwrap(model)` is the plain LM.
    wrapper = (objective or FusedLossModel)(lm)
    if t.torch_compile:
        # Only the training forward is compiled (on the first step: about a minute for
        # llama-10M on CPU, then cached on disk); evaluation, samples and the saved model stay
        # plain. `bench train --compile` measures what it gains.
        wrapper.compile_body()
    model, optimizer = accelerator.prepare(wrapper, optimizer)
    model.train()
    config_dict = cfg.to_dict()
    tokens_per_step = seqs_per_step * cfg.data.seq_length
    batches_per_epoch = steps_per_epoch * t.gradient_accumulation_steps

    def batches_from(first: int):
        """This process's batches of the current epoch from batch `first` on."""
        return epoch_batches(
            data.train,
            t.seed,
            progress.epoch,
            cfg.data.random_offset,
            start=first,
            stop=batches_per_epoch,
            batch_size=t.batch_size,
            world=world,
            rank=rank,
            num_workers=t.dataloader_num_workers,
        )

    batches = batches_from(progress.batch_in_epoch)
    control = TrainControl()
    started = time.perf_counter()
    window_start, window_steps = started, progress.window_steps
    # Steps timed since window_start: a resumed window's first steps ran before the interruption,
    # so they count for the mean loss (window_steps) but not for the rate.
    timed_steps = 0
    # Summed on the device: no per-step sync. A resumed run continues the interrupted window.
    loss_sum = torch.full((), progress.window_loss, device=accelerator.device)

    def snapshot(**metrics) -> TrainState:
        return TrainState(
            step=progress.step,
            max_steps=max_steps,
            epoch=progress.epoch + progress.batch_in_epoch / steps_per_epoch,
            tokens_seen=progress.tokens_seen,
            words_seen=int(progress.tokens_seen * data.words_per_token),
            elapsed=time.perf_counter() - started,
            metrics=MappingProxyType(metrics),
            is_main=accelerator.is_main_process,
        )

    def run_probes(due: list[Probe]) -> None:
        """Measure the plain LM with each due probe and log the numbers (main process only)."""
        if not due or not accelerator.is_main_process:
            return
        lm = unwrap(accelerator, model)
        lm.eval()  # no dropout, no RNG drawn: training and resume stay exactly as without probes
        metrics = {}
        try:
            for probe in due:
                metrics.update(probe.measure(lm))
        finally:
            lm.train()
        cbs.on_evaluate(snapshot(**metrics), control, metrics)

    # BabyLM word marks (training.checkpoint_words): the checkpoint of the step where words seen
    # first reach a mark is also kept as chck_<mark>. Marks a resumed run has already reached were
    # saved before it stopped, so stopped + resumed saves the same set, at the same steps.
    marks = [m for m in parse_marks(t.checkpoint_words) if m > snapshot().words_seen]
    if marks and accelerator.is_main_process:
        # Say up front which marks this run can reach (a small corpus may reach none): words
        # seen at the end are max_steps x tokens_per_step x words_per_token, as counted below.
        per_epoch = int(steps_per_epoch * tokens_per_step * data.words_per_token)
        basis = f"training.max_steps={t.max_steps}" if t.max_steps else f"{per_epoch:,} words per epoch x {t.num_epochs} epochs"
        note = forecast(tuple(marks), int(max_steps * tokens_per_step * data.words_per_token), basis)
        print(f"note: {note}", flush=True)
    cbs.on_train_begin(snapshot(), control)
    if progress.step == 0:
        # The untrained model: where the "learned vs words seen" curve starts.
        run_probes([p for p in probes if p.due(0, max_steps)])
        window_start = time.perf_counter()
    status = "finished"
    while progress.step < max_steps:
        # --- one optimizer step: accumulate gradients over micro-batches -------------------
        for micro in range(t.gradient_accumulation_steps):
            if progress.batch_in_epoch >= batches_per_epoch:
                # New epoch: a fresh permutation that depends only on (seed, epoch).
                progress.epoch, progress.batch_in_epoch = progress.epoch + 1, 0
                batches = batches_from(0)
            batch = next(batches).to(accelerator.device)
            progress.batch_in_epoch += 1
            # All-reduce once per optimizer step, not per micro-batch: the earlier micro-batches only
            # add to local gradients, and syncing each would cost N all-reduces instead of one.
            sync = micro == t.gradient_accumulation_steps - 1
            with nullcontext() if sync else accelerator.no_sync(model), accelerator.autocast():
                # Divided so the summed gradients are the mean over the whole step, as one big batch.
                loss = model(batch) / t.gradient_accumulation_steps
            accelerator.backward(loss)
            loss_sum += loss.detach()

        grad_norm = None
        if t.max_grad_norm > 0:
            grad_norm = accelerator.clip_grad_norm_(model.parameters(), t.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)  # None frees the gradients' memory until the next backward
        progress.step += 1
        progress.tokens_seen += tokens_per_step
        window_steps += 1
        timed_steps += 1

        # --- logging: the only place the loss leaves the device (.item() syncs) ---------------
        if progress.step % t.logging_steps == 0 or progress.step == max_steps:
            mean_loss = accelerator.reduce(loss_sum, "mean").item() / window_steps
            if not math.isfinite(mean_loss):
                raise TrainingDiverged(f"loss became {mean_loss} at step {progress.step}")
            now = time.perf_counter()
            rate = timed_steps * tokens_per_step / max(now - window_start, 1e-9)
            logs = {
                "loss": mean_loss,
                "lr": scheduler.get_last_lr()[0],
                "epoch": snapshot().epoch,
                "tokens_per_s": rate,
                "eta_s": (max_steps - progress.step) * tokens_per_step / rate,
            }
            if grad_norm is not None:
                logs["grad_norm"] = float(grad_norm)
            # The objective's own parts, e.g. distillation's CE and KL terms.
            logs.update(accelerator.unwrap_model(model).window_metrics(lambda x: accelerator.reduce(x, "mean")))
            cbs.on_log(snapshot(**logs), control, logs)
            loss_sum.zero_()
            window_start, window_steps, timed_steps = time.perf_counter(), 0, 0

        cbs.on_step_end(snapshot(), control)
        if world > 1:
            # Every process must take the same branch: any rank's stop request stops all.
            flag = torch.tensor(float(control.should_stop), device=accelerator.device)
            control.should_stop = bool(accelerator.reduce(flag, "max").item())
        paused = time.perf_counter()
        if control.should_eval and data.eval is not None:
            metrics = evaluate(model, data.eval, t.batch_size, accelerator, cfg.data.eval_samples)
            cbs.on_evaluate(snapshot(**metrics), control, metrics)
            if accelerator.is_main_process:
                cbs.on_samples(snapshot(), control, generate_samples(unwrap(accelerator, model), tokenizer))
        crossed = [mark_name(m) for m in marks if m <= snapshot().words_seen]  # one step may pass several
        marks = marks[len(crossed) :]
        # BabyLM probes also measure every chck_ checkpoint: the points participants report.
        run_probes([p for p in probes if p.due(progress.step, max_steps) or (crossed and p.at_challenge)])
        # tokens_per_s is the training rate: time spent evaluating does not count against it.
        window_start += time.perf_counter() - paused
        ending = control.should_stop or control.should_finish
        if control.should_save or ending or crossed or progress.step == max_steps:
            # The loss window not yet logged goes into the checkpoint: a resumed run logs the same
            # mean at its next logging step as an uninterrupted one.
            progress.window_loss, progress.window_steps = loss_sum.item(), window_steps
            path = save_step(
                accelerator,
                model,
                tokenizer,
                optimizer,
                scheduler,
                progress,
                config_dict,
                run_dir,
                t,
                words_seen=snapshot().words_seen,
                marks=crossed,
            )
            cbs.on_save(snapshot(), control, path)
        control.should_eval = control.should_save = False
        if ending:
            # A reached word budget (should_finish) ends the run as done; a stop can be resumed.
            status = "stopped" if progress.step < max_steps and not control.should_finish else "finished"
            break

    if world > 1:
        # Only the main process saves: ranks that drifted apart would be saved as if they agreed.
        check_ranks_in_sync(accelerator, model)
    if status == "finished" and accelerator.is_main_process:
        # The run folder itself is the final model: AutoModelForCausalLM.from_pretrained(run_dir).
        ckpt.save_model_folder(run_dir, unwrap(accelerator, model), tokenizer, config_dict)
    # Every process waits for the final model to be on disk before its end callbacks run.
    accelerator.wait_for_everyone()
    cbs.on_train_end(snapshot(), control, status)
    return status
