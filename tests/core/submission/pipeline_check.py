"""The official `collate_preds --fast` checks, re-implemented to read a collated file as the
pipeline's code reads it: its keys, main's per-UID item counts, `glue` merged from the seven tasks,
AoA's per-checkpoint rows, and `fast_eval_results[task]` one dict per revision of the track.
Imports nothing from `core` (the counts are passed in: the pipeline's, or a fixture data set's).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

FULL_KEYS = [
    "blimp",
    "blimp_supplement",
    "ewok",
    "entity_tracking",
    "wug_adj",
    "wug_past",
    "comps",
    "reading",
    "aoa",
    "glue",
    "fast_eval_results",
]
FAST_KEYS = ["blimp", "blimp_supplement", "ewok", "entity_tracking", "wug_adj", "wug_past", "reading"]
GLUE = ("boolq", "mnli", "mrpc", "multirc", "qqp", "rte", "wsc")


def check_collated(path: Path, full_sizes: dict, revisions: list[str], aoa_size: int) -> list[str]:
    """Every problem the pipeline would report ([] = valid). `full_sizes`: task -> {UID: items}."""
    problems = []
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if list(data) != FULL_KEYS:
        return [f"keys {list(data)} != {FULL_KEYS}"]
    for task in FULL_KEYS[:8]:
        for uid, res in data[task].items():
            want = full_sizes[task].get(uid.lower())
            if len(res["predictions"]) != want:
                problems.append(f"{task}/{uid}: {len(res['predictions'])} != {want}")
    for task in GLUE:
        if len(data["glue"].get(task, {}).get("predictions", [])) != full_sizes[task][task]:
            problems.append(f"glue/{task}: wrong size")
    steps = [r["step"] for r in data["aoa"]["results"]]
    if set(steps) != set(revisions):
        problems.append(f"aoa checkpoints {sorted(set(steps))} != {revisions}")
    for rev in revisions:
        if steps.count(rev) != aoa_size:
            problems.append(f"aoa {rev}: {steps.count(rev)} != {aoa_size}")
    fast = data["fast_eval_results"]
    if list(fast) != FAST_KEYS:
        problems.append(f"fast keys {list(fast)}")
    for task, per_revision in fast.items():
        if len(per_revision) != len(revisions):
            problems.append(f"fast {task}: {len(per_revision)} revisions != {len(revisions)}")
        for scores in per_revision:
            if not isinstance(scores, dict) or not all(isinstance(v, float) for v in scores.values()):
                problems.append(f"fast {task}: not a dict of floats: {scores}")
    for scores in fast["reading"]:
        if set(scores) != {"spr", "rt"} or not all(math.isfinite(v) for v in scores.values()):
            problems.append(f"fast reading: {scores}")
    return problems
