"""`babyllama eval --suite glue`: the seven (Super)GLUE tasks fine-tuned with the pipeline's
recipe, one after another, each from a fresh copy of the model; the official files laid out under
`results/<model>/<revision>/finetune/<task>/`. Imports torch only in `run`; never gradio or studio.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from core.errors import UserError
from core.evaluate.babylm.finetune import outputs
from core.evaluate.babylm.finetune import recipe as recipes
from core.evaluate.babylm.finetune.head import POOLINGS
from core.evaluate.babylm.finetune.tasks import TaskData, load_tasks, parse_tasks

OFFICIAL = "https://github.com/babylm/evaluation-pipeline-2025 (finetune, eval_finetuning.sh)"


@dataclass
class GluePlan:
    """The tasks to fine-tune (read and checked), their recipes, and what differs from the official run."""

    tasks: list[TaskData]
    recipes: dict[str, recipes.Recipe]
    pooling: str = "first"
    deviations: list[str] = field(default_factory=list)


def plan(root, tasks: str = "", pooling: str = "first", epochs: int = 0, max_train: int = 0, max_valid: int = 0) -> GluePlan:
    """Read the chosen tasks' files under `root` and fix each task's recipe (overrides recorded)."""
    if pooling not in POOLINGS:
        raise UserError(f"--pooling {pooling!r}: choose first (official) or last")
    data = load_tasks(root, parse_tasks(tasks), max_train, max_valid)
    the_plan = GluePlan(data, {}, pooling)
    if pooling != "first":
        the_plan.deviations.append(
            f"--pooling {pooling}: the head reads the last real token; the official recipe reads position 0"
        )
    if epochs:
        the_plan.deviations.append(f"--epochs {epochs}: the official recipe runs 10 epochs (WSC 30)")
    for task in data:
        name = task.spec.name
        r = recipes.with_epochs(recipes.official(name, task.spec.num_labels), epochs)
        the_plan.recipes[name] = r
        if len(task.train) < r.batch_size:
            raise UserError(
                f"{task.train_file}: {len(task.train)} training examples, fewer than one batch of "
                f"{r.batch_size} (the recipe drops partial batches, so nothing would train); "
                "raise --max-train-examples or give more examples"
            )
        for kind, kept, total in (("train", len(task.train), task.train_total), ("valid", len(task.valid), task.valid_total)):
            if kept < total:
                flag = "--max-train-examples" if kind == "train" else "--max-valid-examples"
                the_plan.deviations.append(f"{flag}: {name} {kind} uses {kept} of {total} examples")
    return the_plan


def pad_id(tokenizer) -> tuple[int, str]:
    """The padding id, and a note when the tokenizer has none (the pipeline would then fail)."""
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id, ""
    fallback = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    return fallback, (
        f"the tokenizer has no pad token; id {fallback} pads (masked out, and right padding "
        "never changes a causal model's real positions)"
    )


def run(lm, tokenizer, the_plan: GluePlan, log=print, layout: str = "results/model/main/finetune", report=None) -> dict:
    """Fine-tune every planned task; the suite's results (JSON-ready) with the official files under
    `layout` in `_files`. `report(done, total)` gets optimizer steps for the job's progress."""
    from core.evaluate.babylm.finetune.train import Progress, autocast_dtype, finetune
    from core.evaluate.scoring import model_context

    deviations = list(the_plan.deviations)
    context = model_context(lm) or 512
    max_length = min(512, context)
    if max_length < 512:
        deviations.append(f"inputs cut at {max_length} tokens (the model's context), not 512")
    pad, note = pad_id(tokenizer)
    if note:
        deviations.append(note)
    dtype = autocast_dtype(lm.device)
    steps = sum(the_plan.recipes[t.spec.name].total_steps(len(t.train)) for t in the_plan.tasks)
    progress = Progress(steps, report or (lambda done, total: None))
    out = {
        "tasks": {},
        "scoreboard": {},
        "pooling": the_plan.pooling,
        "official": not deviations,
        "deviations": deviations,
        "reference": OFFICIAL,
        "max_length": max_length,
        "precision": f"{str(dtype).removeprefix('torch.')} autocast" if dtype else "fp32",
        "layout": layout,
    }
    files = {}
    started = time.perf_counter()
    for task in the_plan.tasks:
        name, r = task.spec.name, the_plan.recipes[task.spec.name]
        log(
            f"  glue {name}: {len(task.train):,} train / {len(task.valid):,} valid examples, "
            f"{r.total_steps(len(task.train)):,} steps (batch {r.batch_size}, {r.epochs} epochs)"
        )
        result = finetune(
            lm,
            tokenizer,
            task.train,
            task.valid,
            r,
            pooling=the_plan.pooling,
            max_length=max_length,
            pad_id=pad,
            progress=progress,
            log=log,
        )
        out["tasks"][name] = {
            "scores": result.scores,
            "best_epoch": result.best_epoch,
            "metric_for_valid": r.metric_for_valid,
            "epochs": [asdict(e) for e in result.epochs],
            "n_train": len(task.train),
            "n_valid": len(task.valid),
            "steps": result.steps,
            "seconds": result.seconds,
            "recipe": asdict(r),
            "train_file": str(task.train_file),
            "valid_file": str(task.valid_file),
        }
        out["scoreboard"][name] = result.scores[r.metric_for_valid]
        files.update(outputs.task_files(layout, name, result.scores, result.predictions))
    out["seconds"] = time.perf_counter() - started
    out["_files"] = files  # paths relative to the results folder; core.evaluate.outputs.write_all writes them
    return out
