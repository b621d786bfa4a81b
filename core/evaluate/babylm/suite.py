"""`babyllama eval --suite babylm`: every task folder of the official data, scored in one pass,
with the pipeline's results files laid out for hand-in.

`plan` reads the folders (bad input fails before the model runs), `run` scores every candidate of
every task in one batched pass and evaluates each task, then the reading CSV when the data has one
(`reading`); the files go under `results/<model>/<revision>/zero_shot/causal/<task>/<subtask>/`
(reading: `.../causal/reading/`). Never imports gradio.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from core.errors import UserError
from core.evaluate.babylm import results as res
from core.evaluate.babylm.tasks import Task, discover, read_task

OFFICIAL = "https://github.com/babylm/evaluation-pipeline-2025 (sentence_zero_shot, causal backend)"


def parse_temperatures(spec: str) -> list[float]:
    """ "" -> [1.0]; "1,1.5,2" -> those; "MIN:MAX[:STEP]" -> the pipeline's range for
    --min_temperature MIN --max_temperature MAX --temperature_interval STEP (default 0.05):
    torch.arange(MIN, MAX + STEP, STEP) in float32, so the values are the pipeline's own."""
    spec = (spec or "").strip()
    if not spec:
        return [1.0]
    try:
        if ":" in spec:
            import torch

            parts = [float(p) for p in spec.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError(spec)
            lo, hi, step = parts[0], parts[1], parts[2] if len(parts) == 3 else 0.05
            if step <= 0 or hi < lo:
                raise ValueError(spec)
            values = torch.arange(lo, hi + step, step).clamp(min=1e-6).tolist()
        else:
            values = [float(p) for p in spec.split(",") if p.strip()]
    except ValueError:
        raise UserError(
            f"--temperatures {spec!r}: give numbers like 1.0 or 1,1.5,2, or a range MIN:MAX[:STEP] "
            "(the pipeline's --min_temperature/--max_temperature/--temperature_interval)"
        ) from None
    bad = [v for v in values if not (v > 0 and v < float("inf"))]
    if not values or bad:
        raise UserError(f"--temperatures {spec!r}: every temperature must be a finite number above 0")
    return values


@dataclass
class BabyLMPlan:
    """The task folders to score (read and checked) and the warnings about the rest."""

    tasks: list[Task]
    warnings: list[str] = field(default_factory=list)
    temperatures: list[float] = field(default_factory=lambda: [1.0])
    reading: object = None  # core.evaluate.babylm.reading.ReadingData, when the data has reading/


def plan(root, fast: bool = False, temperatures: str = "", limit: int = 0) -> BabyLMPlan:
    """Read every known task folder under `root` (see `tasks.discover`) and its reading CSV (whole:
    `limit` applies to the task files only; the regressions need every row)."""
    layout = discover(root, fast)
    reading = None
    if layout.reading is not None:
        from core.evaluate.babylm.reading import read_reading

        reading = read_reading(layout.reading)
    return BabyLMPlan(
        [read_task(folder, task, limit) for task, folder in layout.tasks],
        layout.warnings,
        parse_temperatures(temperatures),
        reading,
    )


ARITHMETIC = {
    True: "exact: the pipeline's batches (64 items of one task in file order, each candidate index padded "
    "right together), log_softmax over the padded batch, sums in the model's dtype (float32)",
    False: "fast: shared prefixes and identical candidates scored once, batches of one length, the output layer once "
    "per distinct (context, target) of a batch, sums in float64",
}


def scoring_rule(tokenizer, exact: bool = False) -> dict:
    """What decides the numbers, recorded with every result (and the minimal-pairs suite's rule
    beside it, so the two are never mistaken for each other)."""
    from core.evaluate.pairs import rule as pairs_rule
    from core.tokenizer import adds_bos

    bos = adds_bos(tokenizer)
    return {
        "rule": "babylm-2025 causal",
        "reference": OFFICIAL,
        "tokenizer_adds_bos": bos,
        "context_token": tokenizer.bos_token if bos else None,
        "first_token_scored": bos,
        "tie_rule": "argmax: the first candidate wins (label is always candidate 0)",
        "exact": exact,
        "arithmetic": ARITHMETIC[exact],
        "pairs_suite_rule": pairs_rule(tokenizer),
    }


def item_ids(task: Task) -> list[str]:
    """`<UID>_<n>` of every item (n counts within its UID, as predictions.json names them)."""
    counts: dict[str, int] = {}
    out = []
    for item in task.items:
        out.append(f"{item.uid}_{counts.get(item.uid, 0)}")
        counts[item.uid] = counts.get(item.uid, 0) + 1
    return out


def check_lengths(the_plan: BabyLMPlan, per_task: dict, model, limit: int | None) -> None:
    """Refuse, by task, item and candidate, an input the model's positions cannot compute."""
    if limit is None:
        return
    for task in the_plan.tasks:
        for item_id, cands in zip(item_ids(task), per_task[task.label]):
            for k, e in enumerate(cands):
                if len(e.tokens) - 1 > limit:
                    raise UserError(
                        f"{task.label}: item {item_id} (candidate {k}) needs {len(e.tokens) - 1} positions, but this "
                        f"{type(model).__name__} has learned positions only up to {limit} (model.max_position_embeddings); "
                        "the official pipeline cannot score it either: evaluate a model with a longer context or "
                        "rotary positions (Llama), or leave this task folder out of --babylm-data"
                    )


def past_context(per_task: dict, trained: int) -> dict[str, int]:
    """Per task, how many candidates' inputs are longer than the trained context."""
    return {
        label: sum(len(e.tokens) - 1 > trained for cands in items for e in cands) if trained else 0
        for label, items in per_task.items()
    }


def run(
    model,
    tokenizer,
    the_plan: BabyLMPlan,
    batch_size: int = 64,
    log=print,
    layout: str = "results/model/main/zero_shot/causal",
    exact: bool = False,
    trained_context: int = 0,
    exact_batch: int = 0,
) -> dict:
    """Score every task; the suite's results (JSON-ready) with each task's files: the pipeline's
    under `layout` (`official_layout`), our per-item scores under `babylm_scores/`.

    `exact`: the pipeline's own batches and float32 sums (`exact.score_task_exact`, `exact_batch`
    items a batch, default the pipeline's 64); else the fast path (`prefix.score_items`: shared
    prefixes once, float64 sums, batches of `batch_size` candidates).
    `trained_context`: the run's data.seq_length (0: the model config's context), for the count of
    candidates past it."""
    from core.evaluate.babylm.scorer import encode_all, position_limit
    from core.evaluate.scoring import model_context, sync

    started = time.perf_counter()
    sentences, completions = [], []
    for task in the_plan.tasks:
        for item in task.items:
            sentences += item.sentences
            completions += item.completions
    encoded = iter(encode_all(tokenizer, sentences, completions) if sentences else [])
    per_task = {t.label: [[next(encoded) for _ in it.sentences] for it in t.items] for t in the_plan.tasks}
    check_lengths(the_plan, per_task, model, position_limit(model))
    trained = trained_context or model_context(model) or 0
    score = _score_exact if exact else _score_fast
    scores = score(model, tokenizer, the_plan, per_task, batch_size, log, exact_batch) if sentences else {}
    sync(model.device)
    seconds = time.perf_counter() - started
    tasks = {
        task.label: (task, res.evaluate_task(task, scores[task.label], the_plan.temperatures), scores[task.label])
        for task in the_plan.tasks
    }
    out = _summarise(tasks, the_plan, tokenizer, seconds, len(sentences), layout, exact)
    counts = past_context(per_task, trained)
    for label, n in counts.items():
        out["tasks"][label]["past_trained_context"] = n
    out["trained_context"], out["past_trained_context"] = trained, sum(counts.values())
    if out["past_trained_context"]:
        log(
            f"  babylm: {out['past_trained_context']:,} candidates are longer than the trained context of {trained} "
            "tokens (scored past it, as the pipeline does)"
        )
    if the_plan.reading is not None:
        _add_reading(out, model, tokenizer, the_plan.reading, batch_size, log, layout)
    return out


def _add_reading(out: dict, model, tokenizer, data, batch_size: int, log, layout: str) -> None:
    """The reading scores beside the tasks: `reading` in the results, two scoreboard entries, the
    six files under `layout/reading/`."""
    from core.evaluate.babylm.reading import SCORE_LABELS, run_reading

    reading = run_reading(model, tokenizer, data, batch_size, log, layout)
    out["_files"].update(reading.pop("_files"))
    out["reading"] = reading
    out["scoreboard"][SCORE_LABELS["eye"]] = reading["eye_tracking"]
    out["scoreboard"][SCORE_LABELS["spr"]] = reading["self_paced"]


def _progress(log, what: str):
    """progress(done, total): a log line at most every 10 s, and at the end."""
    last = [0.0]

    def report(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 10 or done == total:
            last[0] = time.perf_counter()
            log(f"  babylm: {done:,}/{total:,} {what} scored")

    return report


def _score_fast(model, tokenizer, the_plan, per_task, batch_size, log, _exact_batch) -> dict:
    from core.evaluate.babylm.prefix import score_items

    items = [cands for task_items in per_task.values() for cands in task_items]
    flat = score_items(model, items, the_plan.temperatures, batch_size, _progress(log, "items"))
    out, at = {}, 0
    for label, task_items in per_task.items():
        out[label] = flat[at : at + len(task_items)]
        at += len(task_items)
    return out


def _score_exact(model, tokenizer, the_plan, per_task, _batch_size, log, exact_batch) -> dict:
    from core.evaluate.babylm.exact import PIPELINE_BATCH, pad_id, score_task_exact

    pad, out = pad_id(tokenizer), {}
    for task in the_plan.tasks:
        items = per_task[task.label]
        report = _progress(log, f"{task.label} items")
        out[task.label] = score_task_exact(
            model,
            items,
            item_ids(task),
            the_plan.temperatures,
            pad,
            task.label,
            exact_batch or PIPELINE_BATCH,
            lambda done: report(done, len(items)),
        )
    return out


def _summarise(tasks: dict, the_plan: BabyLMPlan, tokenizer, seconds: float, candidates: int, layout: str, exact: bool) -> dict:
    out = {
        "tasks": {},
        "scoreboard": {},
        "uid_fields": {},
        "warnings": list(the_plan.warnings),
        "temperatures": the_plan.temperatures,
        "rule": scoring_rule(tokenizer, exact),
        "candidates": candidates,
        "seconds": seconds,
        "candidates_per_s": candidates / max(seconds, 1e-9),
    }
    files = {}
    for label, (task, result, item_scores) in tasks.items():
        public = {k: v for k, v in result.items() if k not in ("chosen", "probs")}
        out["tasks"][label] = public
        out["scoreboard"][label] = result["average"]
        fields = {item.uid: item.metadata["field"] for item in task.items if "field" in item.metadata}
        if fields:
            out["uid_fields"][label] = fields
        official = f"{layout}/{task.task}/{task.subtask}"
        files[f"{official}/best_temperature_report.txt"] = res.report_text(result)
        files[f"{official}/predictions.json"] = res.predictions_json(task, result)
        files[f"babylm_scores/{task.task}/{task.subtask}.jsonl"] = _scores_jsonl(task, result, item_scores)
    out["layout"] = layout
    out["_files"] = files  # paths relative to the results folder; outputs.write_all writes them
    return out


def _scores_jsonl(task: Task, result: dict, item_scores: list) -> str:
    """One line per item at the best temperature: id, candidate scores, the pick (for item-by-item
    comparison with other scorers; not a pipeline file)."""
    import json

    t = result["temperature_index"]
    counts: dict[str, int] = {}
    lines = []
    for item, scores, pick in zip(task.items, item_scores, result["chosen"]):
        n = counts.get(item.uid, 0)
        counts[item.uid] = n + 1
        lines.append(json.dumps({"id": f"{item.uid}_{n}", "scores": [round(c[t], 6) for c in scores], "pred": pick, "label": 0}))
    return "\n".join(lines) + "\n"


def official_layout(model_name: str, revision: str) -> str:
    """The pipeline's folder for one model revision, relative to its --output_dir."""
    return f"results/{model_name}/{revision or 'main'}/zero_shot/causal"
