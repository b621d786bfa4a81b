"""The training loop: one linear function over a transformers causal LM, driven by accelerate.

Read `_loop()` (what `train()` runs) top to bottom: set-up, (resume), then one `while` loop of
optimizer steps.
Everything that observes or steers the run is a callback (core.train.callbacks); this module
never touches the database, the UI or job files. Must not import gradio or core.history.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Sequence

import torch

from core.config import RunConfig, machine_fallbacks
from core.model.build import build_model
from core.train import checkpoint as ckpt
from core.train.best import KeepBest
from core.train.callbacks import CallbackList, Schedule, TrainControl, TrainState
from core.train.fused_loss import FusedLossModel, causal_lm_loss
from core.train.order import epoch_batches, usable_blocks
from core.train.word_marks import forecast, mark_name, parse_marks

if TYPE_CHECKING:
    from core.train.probes import Probe

# Greedy continuations of these show how the model is doing, in the log and the studio.
SAMPLE_PROMPTS = ("Once upon a time", "The little dog", "Mommy, can I")


@dataclass
class TrainData:
    """Token blocks ready for training: `train` and `eval` are int64 tensors [n, seq_length]."""

    train: torch.Tensor
    eval: torch.Tensor | None
    words_per_token: float = 0.75  # corpus words / tokens, to report "words seen"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


def make_accelerator(cfg: RunConfig):
    """An Accelerator for this machine; fp16/bf16/compile fall back (with a warning) where absent."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    # accelerate keeps one precision per process: a second run in the same process (a notebook,
    # the tests) with another precision would be refused. The process group (PartialState) stays.
    AcceleratorState._reset_state()
    cuda = torch.cuda.is_available()
    bf16_ok = torch.cuda.is_bf16_supported() if cuda else cpu_has_bf16()
    compile_ok = cuda or (cfg.training.torch_compile and cpu_can_compile())
    cfg, notes = machine_fallbacks(cfg, cuda=cuda, bf16_ok=bf16_ok, compile_ok=compile_ok)
    precision = "bf16" if cfg.training.bf16 else "fp16" if cfg.training.fp16 else "no"
    # cpu=True matters under torchrun/accelerate launch on CPU: without it every process
    # would silently train on its own instead of joining one gloo process group.
    return Accelerator(cpu=not cuda, mixed_precision=precision), cfg, notes


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bfloat16 matmuls natively (AVX512-BF16 or AMX, through oneDNN): there,
    bf16 autocast trains ~1.5x faster than fp32 (`babyllama bench train --bf16`); elsewhere it
    would be emulated and slower, so bf16 falls back to fp32."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


def cpu_can_compile() -> bool:
    """Whether torch.compile can build CPU kernels here: inductor writes C++ and compiles it with
    the system's compiler (g++, or $CXX), which a slim container may lack. This only checks that
    the compiler runs; one without OpenMP or headers fails at the first step instead."""
    try:
        from torch._inductor import cpp_builder, exc

        cpp_builder.get_cpp_compiler()
        return True
    except (ImportError, exc.InvalidCxxCompiler):
        return False


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
    with _ordered_cpu_kernels(cfg.training.torch_compile and accelerator.device.type == "cpu"):
        return _loop(cfg, data, tokenizer, Path(run_dir), callbacks, accelerator, resume_from, objective, probes)


@contextmanager
def _ordered_cpu_kernels(enabled: bool):
    """Deterministic algorithms on, for a compiled run on CPU.

    Inductor's CPU embedding backward adds gradient rows with atomics, in whatever order the
    threads run, so two identical steps could differ in the last bit and resume would not be
    exact. Under the flag it compiles the ordered kernel instead (no slower on llama-10M). The
    flag is read when each graph compiles, the backward's lazily in the first backward, so it
    holds for the whole run; uninitialised memory is not filled (that would cost a pass).
    """
    if not enabled:
        yield
        return
    was = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.utils.deterministic.fill_uninitialized_memory,
    )
    # warn_only: an op without a deterministic kernel warns instead of failing the run (a
    # caller's own strict setting stays strict).
    torch.use_deterministic_algorithms(True, warn_only=was[1] if was[0] else True)
    torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was[0], warn_only=was[1])
        torch.utils.deterministic.fill_uninitialized_memory = was[2]


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

    # AdamW without weight decay on norms and biases (1-D tensors), as in nanoGPT and HF.
    # fused=True: one kernel over all parameters instead of a loop of small ops per tensor.
    decay = [p for p in lm.parameters() if p.dim() >= 2]
    no_decay = [p for p in lm.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=t.lr, fused=True
    )

    # One optimizer step consumes batch_size x accumulation sequences on each process.
    seqs_per_step = t.batch_size * t.gradient_accumulation_steps * world
    steps_per_epoch = usable_blocks(len(data.train), cfg.data.random_offset) // seqs_per_step
    if steps_per_epoch == 0:
        raise ValueError(
            f"the training split has {len(data.train)} sequences of {cfg.data.seq_length} tokens, "
            f"fewer than one optimizer step needs ({seqs_per_step}); lower training.batch_size, "
            "gradient_accumulation_steps or data.seq_length, or use more data"
        )
    max_steps = t.max_steps or steps_per_epoch * t.num_epochs
    scheduler = _make_scheduler(t.lr_scheduler, optimizer, t.warmup_steps, max_steps)

    progress = ckpt.Progress()
    if resume_from is not None:
        # Weights, optimizer moments, schedule, RNG and data position: an exact continuation.
        state = ckpt.load_state(resume_from)
        _load_weights(lm, resume_from)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        ckpt.set_rng_state(state["rng"])
        progress = ckpt.Progress(**state["progress"])

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
            # Only the last micro-batch all-reduces gradients between processes.
            sync = micro == t.gradient_accumulation_steps - 1
            with nullcontext() if sync else accelerator.no_sync(model), accelerator.autocast():
                loss = model(batch) / t.gradient_accumulation_steps
            accelerator.backward(loss)
            loss_sum += loss.detach()

        grad_norm = None
        if t.max_grad_norm > 0:
            grad_norm = accelerator.clip_grad_norm_(model.parameters(), t.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
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
            progress.window_loss, progress.window_steps = loss_sum.item(), window_steps
            path = _save(
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
        _check_ranks_in_sync(accelerator, model)
    if status == "finished" and accelerator.is_main_process:
        # The run folder itself is the final model: AutoModelForCausalLM.from_pretrained(run_dir).
        ckpt.save_model_folder(run_dir, unwrap(accelerator, model), tokenizer, config_dict)
    accelerator.wait_for_everyone()
    cbs.on_train_end(snapshot(), control, status)
    return status


def unwrap(accelerator, model):
    """The plain transformers model inside what accelerate prepared (DDP, FusedLossModel)."""
    return accelerator.unwrap_model(model).lm


def _check_ranks_in_sync(accelerator, model) -> None:
    """Data parallelism must leave identical weights on every process; fail loudly if not."""
    with torch.no_grad():
        checksum = torch.stack([p.double().sum() for p in accelerator.unwrap_model(model).parameters()]).sum()
    sums = accelerator.gather(checksum.reshape(1).to(accelerator.device)).cpu()
    if not torch.all(sums == sums[0]):
        raise RuntimeError(f"parameters differ between processes: checksums {sums.tolist()}")
    if accelerator.is_main_process:
        print(f"parameters identical on all {accelerator.num_processes} processes", flush=True)


def _make_scheduler(name: str, optimizer, warmup: int, total: int):
    from transformers import get_scheduler

    kind = {"constant": "constant_with_warmup"}.get(name, name)
    return get_scheduler(kind, optimizer, num_warmup_steps=warmup, num_training_steps=total)


def _load_weights(model, folder: Path) -> None:
    """Load a checkpoint's safetensors into `model`; only a tied output layer may be absent."""
    from safetensors.torch import load_file

    state = {}
    for part in sorted(Path(folder).glob("model*.safetensors")):
        state.update(load_file(str(part)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
    if unexpected or set(missing) - tied:
        raise ValueError(
            f"checkpoint {folder} does not fit this model: missing {sorted(set(missing) - tied)}, unexpected {sorted(unexpected)}"
        )
    model.tie_weights()


def _save(
    accelerator, model, tokenizer, optimizer, scheduler, progress, config_dict, run_dir, t, *, words_seen: int, marks: list[str]
) -> Path:
    path = Path(run_dir) / f"{ckpt.PREFIX}{progress.step}"
    if accelerator.is_main_process:
        path = ckpt.save(
            run_dir,
            unwrap(accelerator, model),
            tokenizer,
            optimizer,
            scheduler,
            replace(progress),
            config_dict,
            total_limit=t.save_total_limit,
            words_seen=words_seen,
            marks=marks,
        )
        for name in marks:
            print(f"saved {name} (step {progress.step}, {words_seen:,} words seen)", flush=True)
    accelerator.wait_for_everyone()
    return path


@torch.no_grad()
def evaluate(model, blocks: torch.Tensor, batch_size: int, accelerator, max_samples: int = 0) -> dict:
    """Mean token loss and perplexity of the plain model (whatever the training objective) over
    (the first `max_samples` of) the eval blocks."""
    model.eval()
    if max_samples:
        blocks = blocks[:max_samples]
    total, count = torch.zeros((), dtype=torch.float64), 0
    world, rank = accelerator.num_processes, accelerator.process_index
    for start in range(rank * batch_size, len(blocks), batch_size * world):
        batch = blocks[start : start + batch_size].to(accelerator.device)
        with accelerator.autocast():
            loss = causal_lm_loss(unwrap(accelerator, model), batch)
        n = batch.numel() - batch.shape[0]  # predicted positions: all but the first of each row
        total += loss.double().cpu() * n
        count += n
    sums = accelerator.reduce(torch.tensor([total.item(), float(count)], device=accelerator.device), "sum")
    model.train()
    mean = (sums[0] / sums[1].clamp(min=1)).item()
    return {"eval_loss": mean, "eval_perplexity": math.exp(min(mean, 50.0))}


@torch.no_grad()
def generate_samples(model, tokenizer, max_new_tokens: int = 24) -> list[tuple[str, str]]:
    """Greedy continuations of SAMPLE_PROMPTS; greedy uses no RNG, so resume stays exact."""
    was_training = model.training
    model.eval()
    out = []
    device = next(model.parameters()).device
    for prompt in SAMPLE_PROMPTS:
        ids = tokenizer(prompt, return_tensors="pt").input_ids.to(device)
        gen = model.generate(ids, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        out.append((prompt, tokenizer.decode(gen[0, ids.shape[1] :], skip_special_tokens=True)))
    model.train(was_training)
    return out
