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
    """"" -> [1.0]; "1,1.5,2" -> those; "MIN:MAX[:STEP]" -> the pipeline's range for
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
        raise UserError(f"--temperatures {spec!r}: give numbers like 1.0 or 1,1.5,2, or a range MIN:MAX[:STEP] "
                        "(the pipeline's --min_temperature/--max_temperature/--temperature_interval)") from None
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
    return BabyLMPlan([read_task(folder, task, limit) for task, folder in layout.tasks], layout.warnings,
                      parse_temperatures(temperatures), reading)


def scoring_rule(tokenizer) -> dict:
    """What decides the numbers, recorded with every result (and the minimal-pairs suite's rule
    beside it, so the two are never mistaken for each other)."""
    from core.evaluate.pairs import rule as pairs_rule
    from core.tokenizer import adds_bos

    bos = adds_bos(tokenizer)
    return {
        "rule": "babylm-2025 causal", "reference": OFFICIAL,
        "tokenizer_adds_bos": bos,
        "context_token": tokenizer.bos_token if bos else None,
        "first_token_scored": bos,
        "tie_rule": "argmax: the first candidate wins (label is always candidate 0)",
        "pairs_suite_rule": pairs_rule(tokenizer),
    }


def run(model, tokenizer, the_plan: BabyLMPlan, batch_size: int = 64, log=print,
        layout: str = "results/model/main/zero_shot/causal") -> dict:
    """Score every task; the suite's results (JSON-ready) with each task's files: the pipeline's
    under `layout` (`official_layout`), our per-item scores under `babylm_scores/`."""
    from core.evaluate.babylm.scorer import encode_all, score_all
    from core.evaluate.scoring import sync

    started = time.perf_counter()
    sentences, completions, spans = [], [], []
    for task in the_plan.tasks:
        for item in task.items:
            spans.append(len(item.sentences))
            sentences += item.sentences
            completions += item.completions
    encoded = encode_all(tokenizer, sentences, completions) if sentences else []
    last = [0.0]

    def progress(done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 10 or done == total:
            last[0] = time.perf_counter()
            log(f"  babylm: {done:,}/{total:,} candidates scored")

    flat = score_all(model, encoded, the_plan.temperatures, batch_size, progress) if encoded else []
    sync(model.device)
    seconds = time.perf_counter() - started
    tasks, at, k = {}, 0, 0
    for task in the_plan.tasks:
        item_scores = []
        for _ in task.items:
            item_scores.append(flat[at:at + spans[k]])
            at += spans[k]
            k += 1
        tasks[task.label] = (task, res.evaluate_task(task, item_scores, the_plan.temperatures), item_scores)
    out = _summarise(tasks, the_plan, tokenizer, seconds, len(encoded), layout)
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


def _summarise(tasks: dict, the_plan: BabyLMPlan, tokenizer, seconds: float, candidates: int, layout: str) -> dict:
    out = {"tasks": {}, "scoreboard": {}, "uid_fields": {}, "warnings": list(the_plan.warnings),
           "temperatures": the_plan.temperatures, "rule": scoring_rule(tokenizer),
           "candidates": candidates, "seconds": seconds, "candidates_per_s": candidates / max(seconds, 1e-9)}
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
        lines.append(json.dumps({"id": f"{item.uid}_{n}", "scores": [round(c[t], 6) for c in scores],
                                 "pred": pick, "label": 0}))
    return "\n".join(lines) + "\n"


def official_layout(model_name: str, revision: str) -> str:
    """The pipeline's folder for one model revision, relative to its --output_dir."""
    return f"results/{model_name}/{revision or 'main'}/zero_shot/causal"
