"""The pipeline's files for one fine-tuned task, byte for byte as `finetune/run.py` writes them:
`results.txt` ("name: value" lines joined by newlines, no final newline, Python's float repr) and
`predictions.json` (json.dump with default separators). Standard library only; never imports torch.
"""

from __future__ import annotations

import json


def layout(model_name: str, revision: str) -> str:
    """The pipeline's fine-tuning folder for one model revision, relative to its results root's parent."""
    return f"results/{model_name}/{revision or 'main'}/finetune"


def results_text(scores: dict[str, float]) -> str:
    """results.txt: the best epoch's scores in the recipe's metric order."""
    return "\n".join(f"{name}: {float(value)}" for name, value in scores.items())


def predictions_json(task: str, predictions: list[int]) -> str:
    """predictions.json: {"<task>": {"predictions": [{"id": "<task>_<i>", "pred": <label>}, ...]}}."""
    rows = [{"id": f"{task}_{i}", "pred": int(pred)} for i, pred in enumerate(predictions)]
    return json.dumps({task: {"predictions": rows}})


def task_files(folder: str, task: str, scores: dict[str, float], predictions: list[int]) -> dict[str, str]:
    """{path: text} of one task under `folder` (`layout(...)`)."""
    return {
        f"{folder}/{task}/results.txt": results_text(scores),
        f"{folder}/{task}/predictions.json": predictions_json(task, predictions),
    }
