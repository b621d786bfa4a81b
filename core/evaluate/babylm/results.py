"""From candidate scores to the official pipeline's numbers and files.

Per temperature: the prediction is the first candidate with the highest score (the label is
always 0); accuracy is grouped by every metadata key; the average is the unweighted mean over
UIDs (entity tracking: over its splits' means); WUG is Spearman's rho between the softmax
probability of candidate 0 and the human ratio. The best temperature is the first with the
highest average. `report_text` and `predictions` are the files the pipeline writes.
Standard library + torch (for the pipeline's fp32 softmax); never imports gradio.
"""

from __future__ import annotations

import json
import math
from collections import Counter

from core.evaluate.babylm.tasks import ENTITY_SPLITS, Task


def first_argmax(values: list[float]) -> int:
    """Index of the highest value; on a tie the first such index (torch.max's rule)."""
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's rho with average ranks for ties (scipy.stats.spearmanr); NaN when undefined."""

    def ranks(values):
        order = sorted(range(len(values)), key=lambda i: values[i])
        out, i = [0.0] * len(values), 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2 + 1
            i = j + 1
        return out

    if len(xs) < 2:
        return math.nan
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else math.nan


def candidate0_probs(item_scores: list[list[float]], t: int) -> list[float]:
    """Softmax over each item's candidates of their scores at temperature t, candidate 0's share
    (fp32, as the pipeline computes it)."""
    import torch

    stacked = torch.tensor([[c[t] for c in cands] for cands in item_scores], dtype=torch.float32)
    return torch.softmax(stacked, dim=1)[:, 0].tolist()


def accuracies_at(task: Task, chosen: list[int]) -> dict[str, dict[str, float]]:
    """{metadata key: {value: accuracy in %}} in the pipeline's order (keys, then values as met)."""
    total: dict[str, Counter] = {}
    correct: dict[str, Counter] = {}
    for item, pick in zip(task.items, chosen):
        for key, value in item.metadata.items():
            total.setdefault(key, Counter())[value] += 1
            correct.setdefault(key, Counter())[value] += pick == 0
    return {key: {v: 100.0 * correct[key][v] / n for v, n in counts.items()} for key, counts in total.items()}


def average_of(task: Task, accuracies: dict[str, dict[str, float]]) -> float:
    """The reported average; for entity tracking the split means are also added to the UID block."""
    uids = accuracies["UID"]
    if task.task != "entity_tracking":
        return sum(uids.values()) / len(uids)
    means = []
    for split in ENTITY_SPLITS:
        keys = [k for k in uids if k.startswith(split)]
        if keys:
            uids[split] = sum(uids[k] for k in keys) / len(keys)
            means.append(uids[split])
    # Files named otherwise (the pipeline would divide by zero): the mean over UIDs.
    return sum(means) / len(means) if means else sum(uids.values()) / len(uids)


def evaluate_task(task: Task, item_scores: list[list[list[float]]], temperatures: list[float]) -> dict:
    """Every temperature's average, and the best temperature's blocks, predictions and report."""
    wug = task.task.startswith("wug")
    per_temperature = []
    for t in range(len(temperatures)):
        chosen = [first_argmax([c[t] for c in cands]) for cands in item_scores]
        if wug:
            probs = candidate0_probs(item_scores, t)
            rho = spearman(probs, [item.ratio for item in task.items])
            per_temperature.append((rho, {"UID": {"avg": rho}}, chosen, probs))
        else:
            acc = accuracies_at(task, chosen)
            per_temperature.append((average_of(task, acc), acc, chosen, None))
    best, best_value = 0, -1.0
    for t, (value, *_rest) in enumerate(per_temperature):
        if value > best_value:  # strictly: the first temperature wins a tie (NaN never wins)
            best, best_value = t, value
    average, blocks, chosen, probs = per_temperature[best]
    return {
        "task": task.task,
        "subtask": task.subtask,
        "folder": str(task.folder),
        "n_items": len(task.items),
        "metric": "spearman" if wug else "accuracy",
        "temperature": temperatures[best],
        "temperature_index": best,
        "average": average,
        "by_temperature": [[temperatures[t], v[0]] for t, v in enumerate(per_temperature)],
        "blocks": blocks,
        "chosen": chosen,
        "probs": probs,
        "correct": None if wug else sum(c == 0 for c in chosen),
    }


def report_text(result: dict) -> str:
    """best_temperature_report.txt, byte for byte as the pipeline prints it."""
    metric = "SPEARMAN'S RHO" if result["metric"] == "spearman" else "ACCURACY"
    lines = [f"TEMPERATURE: {result['temperature']:.2f}", ""]
    for key, values in result["blocks"].items():
        lines.append(f"### {key.upper()} {metric}")
        lines += [f"{name}: {value:.2f}" for name, value in values.items()]
        lines.append("")
    lines += [f"### AVERAGE {metric}", f"{result['average']:.2f}", ""]
    return "\n".join(lines) + "\n"


def predictions(task: Task, result: dict) -> dict:
    """predictions.json's object: {UID: {"predictions": [{"id": "<UID>_<n>", "pred": ...}]}}."""
    out: dict[str, list] = {}
    for i, (item, pick) in enumerate(zip(task.items, result["chosen"])):
        rows = out.setdefault(item.uid, [])
        # COMPS names the whole chosen sentence; the others the chosen completion.
        entry = {
            "id": f"{item.uid}_{len(rows)}",
            "pred": item.sentences[pick] if task.task == "comps" else item.completions[pick],
        }
        if result["probs"] is not None:
            entry["prob"] = result["probs"][i]
        rows.append(entry)
    return {uid: {"predictions": rows} for uid, rows in out.items()}


def predictions_json(task: Task, result: dict) -> str:
    """The file's text (json.dump's defaults: one line, ", " and ": " separators, NaN as NaN)."""
    return json.dumps(predictions(task, result))
