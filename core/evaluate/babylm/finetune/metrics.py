"""The fine-tuning scores as the pipeline computes them with scikit-learn: accuracy, binary F1 of
class 1 (0.0 when it is undefined) and Matthews' correlation (0.0 when undefined), on plain lists.

Standard library only: never imports torch, gradio or studio.
"""

from __future__ import annotations

import math


def accuracy(labels: list[int], preds: list[int]) -> float:
    return sum(y == p for y, p in zip(labels, preds)) / len(labels)


def f1(labels: list[int], preds: list[int]) -> float:
    """F1 of the positive class 1 (sklearn's average='binary'): 2 tp / (2 tp + fp + fn)."""
    tp = sum(y == 1 and p == 1 for y, p in zip(labels, preds))
    fp = sum(y != 1 and p == 1 for y, p in zip(labels, preds))
    fn = sum(y == 1 and p != 1 for y, p in zip(labels, preds))
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0


def mcc(labels: list[int], preds: list[int]) -> float:
    """Matthews' correlation over any number of classes (the confusion-matrix form sklearn uses)."""
    n = len(labels)
    classes = sorted(set(labels) | set(preds))
    true_counts = [sum(y == c for y in labels) for c in classes]
    pred_counts = [sum(p == c for p in preds) for c in classes]
    correct = sum(y == p for y, p in zip(labels, preds))
    cov_tp = correct * n - sum(t * p for t, p in zip(true_counts, pred_counts))
    cov_pp = n * n - sum(p * p for p in pred_counts)
    cov_tt = n * n - sum(t * t for t in true_counts)
    return cov_tp / math.sqrt(cov_tt * cov_pp) if cov_tt * cov_pp else 0.0


METRICS = {"accuracy": accuracy, "f1": f1, "mcc": mcc}


def scores(labels: list[int], preds: list[int], names: tuple[str, ...]) -> dict[str, float]:
    """{name: value} for `names`, in that order (results.txt keeps it)."""
    return {name: float(METRICS[name](labels, preds)) for name in names}
