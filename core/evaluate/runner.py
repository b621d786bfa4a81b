"""`babyllama eval`: run the chosen suites on one model and write one results folder.

Order: check options, load the model, read every input (pairs, cloze, prompts, text) so bad input
fails before any scoring, run the suites, write everything into a hidden temp folder, rename it
into place (a failed eval never leaves a folder that looks complete), then record the results in
the history when the model is a run. Options: core.evaluate.options; the inputs read up front:
core.evaluate.plan. The CLI, the worker (`eval` jobs) and the studio call `run_eval`.
Must not import gradio.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from core.errors import UserError
from core.evaluate.inputs import model_hashes, model_info, output_dir
from core.evaluate.options import EvalOptions
from core.evaluate.plan import Plan, check_vocab, make_plan
from core.portable import portability_note
from core.workspace import Workspace

RESULTS_VERSION = 1
PPL_TOKENS_PER_PASS = 16384  # caps perplexity windows per forward pass (memory grows with the vocabulary)


def _load(opts: EvalOptions, ws: Workspace):
    import torch
    import transformers

    from core.generate import load_model, resolve_model

    transformers.utils.logging.disable_progress_bar()  # \r-animations are noise in logs and run.log

    if opts.device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is visible to torch here; use --device cpu")
    folder = resolve_model(opts.model, ws)
    model, tokenizer = load_model(folder, ws, device=opts.device or None)
    return folder, model, tokenizer


def _run_suite(suite: str, opts: EvalOptions, plan: Plan, model, tokenizer, log, report=None) -> dict:
    from core.evaluate import cloze, generation, pairs, perplexity, speed

    if suite == "ppl":
        budget = opts.num_samples * (plan.seq_length - 1) + 1 if opts.num_samples else 0
        # Logits are windows x seq_length x vocab floats: long windows get fewer per pass.
        batch = max(1, min(opts.batch_size, PPL_TOKENS_PER_PASS // plan.seq_length))
        out = perplexity.perplexity(model, tokenizer, plan.text.files, plan.seq_length, batch, budget, log)
        return {**out, "data": plan.text.label, "data_kind": plan.text.kind, "data_sha256": plan.text.sha256}
    if suite == "gen":
        from core.generate import SamplingParams

        params = SamplingParams(max_new_tokens=opts.max_new_tokens, seed=opts.seed)
        out = generation.generation_metrics(model, tokenizer, plan.prompts, params, log)
        out["consistency"] = generation.consistency(model, tokenizer, max_new_tokens=min(24, opts.max_new_tokens))
        return out
    if suite == "cloze":
        return cloze.score_cloze(model, tokenizer, plan.cloze_items, opts.batch_size)
    if suite == "pairs":
        return pairs.score_pairs(model, tokenizer, plan.paradigms, opts.batch_size)
    if suite == "babylm":
        from core.evaluate.babylm import suite as babylm

        for warning in plan.babylm.warnings:
            log(f"  warning: {warning}")
        return babylm.run(
            model,
            tokenizer,
            plan.babylm,
            opts.batch_size,
            log,
            plan.babylm_layout,
            exact=opts.exact,
            trained_context=plan.trained_context,
        )
    if suite == "glue":
        from core.evaluate.babylm.finetune import suite as glue

        return glue.run(model, tokenizer, plan.glue, log, plan.glue_layout, report)
    if suite == "aoa":
        from core.evaluate.babylm import aoa

        for warning in plan.aoa.warnings:
            log(f"  warning: {warning}")
        return aoa.run(plan.aoa, model.device, opts.batch_size, log)
    if suite == "speed":
        return speed.speed_by_batch(model, seed=opts.seed, log=log)
    raise UserError(f"--suite {suite}: not available in this version")


def run_eval(opts: EvalOptions, ws: Workspace, *, history=None, job: str | None = None, log=print) -> tuple[dict, Path]:
    """Evaluate `opts.model`; returns (results, results folder). See the module docstring."""
    from core.evaluate import outputs

    opts.check()
    started = time.perf_counter()
    log(f"loading {opts.model}")
    folder, model, tokenizer = _load(opts, ws)
    info = model_info(folder, ws, history)
    if any(s in opts.suites for s in ("babylm", "aoa", "glue")) and (note := portability_note(info.folder)):
        info = replace(info, notes=(*info.notes, note))  # scores are fine; uploading it as it is is not
    check_vocab(model, tokenizer, info)
    plan = make_plan(opts, ws, info, model, tokenizer)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = output_dir(info, ws, stamp, opts.output)
    results = _header(opts, info, model, tokenizer, plan)
    for note in info.notes:
        log(f"note: {note}")
    for suite, reason in plan.skipped.items():
        log(f"skipping {suite}: {reason}")
    for i, suite in enumerate(plan.suites):
        log(f"[{i + 1}/{len(plan.suites)}] {suite}")
        t0 = time.perf_counter()
        report = None
        if history is not None and job:  # fine-tuning reports its optimizer steps while it runs
            report = lambda done, total: history.update_progress(job, done, total)  # noqa: E731
        results["suites"][suite] = _run_suite(suite, opts, plan, model, tokenizer, log, report)
        results["seconds"][suite] = time.perf_counter() - t0
        log(f"  {outputs.summary_line(suite, results['suites'][suite])}")
        if history is not None and job:
            history.update_progress(job, i + 1, len(plan.suites))
    results["seconds"]["total"] = time.perf_counter() - started
    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        outputs.write_all(work, results, curves=_curves(history, info.run))
        if target.exists():
            target.rmdir()  # an empty --output folder: the complete one takes its place
        work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if opts.output.endswith(".json"):  # the guide's --output-path results.json
        copy = Path(opts.output).expanduser()
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target / "results.json", copy)
    log(f"results in {target} (report.html, results.json, samples.txt)")
    if history is not None:
        outputs.record_history(history, results, target, info.run or job, job)
    return results, target


def _header(opts: EvalOptions, info, model, tokenizer, plan: Plan) -> dict:
    from core.evaluate.scoring import context_token, model_context
    from core.tokenizer import adds_bos

    hashes = model_hashes(info.folder)
    return {
        "version": RESULTS_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {
            "ref": opts.model,
            "path": str(info.folder),
            "run": info.run,
            "step": info.step,
            "type": type(model).__name__,
            "n_params": sum(p.numel() for p in model.parameters()),
            "context": model_context(model),
            "device": str(model.device),
            "sha256": hashes["model_sha256"],
        },
        "tokenizer": {
            "vocab": len(tokenizer),
            "sha256": hashes["tokenizer_sha256"],
            "adds_bos": adds_bos(tokenizer),
            "context_token": tokenizer.convert_ids_to_tokens(context_token(tokenizer)),
        },
        "data": {"label": plan.text.label, "sha256": plan.text.sha256, "files": len(plan.text.files)} if plan.text else None,
        "options": opts.to_dict(),
        "suites": {},
        "skipped": dict(plan.skipped),
        "notes": list(info.notes),
        "seconds": {},
    }


def _curves(history, run: str | None) -> dict:
    """The run's training curves (loss, eval loss) for the report, when it has a history."""
    if history is None or run is None:
        return {}
    names = ("loss", "eval_loss")
    return {name: series for name in names if (series := history.metric_series(run, name))}
