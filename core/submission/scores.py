"""The per-revision scores `collate_preds --fast` puts in `fast_eval_results`, from a revision's
predictions files and the fast data: accuracy per UID (the prediction equals the correct
candidate's text, stripped), WUG's Spearman rho (candidate-0 probability vs the human ratio) and
reading's eye-tracking / self-paced gains in R² (statsmodels OLS, as collate_preds). Never torch or gradio.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import UserError
from core.evaluate.babylm.reading_stats import BASELINE as BASE
from core.evaluate.babylm.reading_stats import EYE as EYE_TRACKING
from core.evaluate.babylm.reading_stats import SPILLOVER
from core.submission.sizes import FOLDERS


def _items_by_uid(data_root: Path, task: str) -> dict[str, list]:
    from core.evaluate.babylm.tasks import read_task

    fast_folder, _, pipeline_task = FOLDERS[task]
    folder = Path(data_root) / "fast_eval" / str(fast_folder)
    if not folder.is_dir():
        raise UserError(f"--babylm-data: no {folder}; give the official evaluation_data/ folder (with fast_eval/)")
    grouped: dict[str, list] = {}
    for item in read_task(folder, pipeline_task, 0).items:
        grouped.setdefault(item.uid, []).append(item)
    return grouped


def accuracy(results: dict, task: str, data_root: Path) -> dict[str, float]:
    """{UID: share of predictions equal to candidate 0's text} (blimp, supplement, ewok, entity tracking)."""
    items = _items_by_uid(data_root, task)
    out = {}
    for uid, entry in results.items():
        pairs = list(zip(entry["predictions"], items.get(uid, [])))
        correct = sum(_text(p["pred"]) == _text(item.completions[0]) for p, item in pairs)
        out[uid] = correct / len(pairs) if pairs else float("nan")
    return out


def _text(value):
    return value.strip() if isinstance(value, str) else value


def wug_rho(results: dict, task: str, data_root: Path) -> dict[str, float]:
    """{UID: Spearman rho between each item's `prob` and its human `ratio`}."""
    from scipy.stats import spearmanr

    items = [i for group in _items_by_uid(data_root, task).values() for i in group]
    out = {}
    for uid, entry in results.items():
        pairs = list(zip(entry["predictions"], items))
        out[uid] = float(spearmanr([p["prob"] for p, _ in pairs], [i.ratio for _, i in pairs])[0])
    return out


def reading_scores(results: dict, data_root: Path) -> dict[str, float]:
    """{"spr": self-paced gain, "rt": mean eye-tracking gain} of a revision's fast reading predictions."""
    return reading_gains(results, Path(data_root) / "fast_eval" / "reading" / "reading_data.csv")


def reading_gains(results: dict, path: Path) -> dict[str, float]:
    """{"spr", "rt"}: (R²_with - R²_without) / (1 - R²_without) of OLS fits with all pairwise
    interactions of the baseline predictors, `pred` added last, on the reading CSV at `path`."""
    import pandas as pd

    if not path.is_file():
        raise UserError(f"--babylm-data: no {path}; the reading scores need the official reading data")
    data = pd.read_csv(path, dtype={"item": str})
    rows = results["reading"]["predictions"]
    if len(rows) != len(data):
        raise UserError(f"reading: {len(rows)} predictions for the {len(data)} rows of {path}; re-run the reading eval on it")
    data["pred"] = [r["pred"] for r in rows]
    data["prev_pred"] = [r["prev_pred"] for r in rows]
    gains = [_gain(data, dv, BASE) for dv in EYE_TRACKING]
    return {"spr": _gain(data, "self_paced_reading_time", SPILLOVER), "rt": sum(gains) / len(gains)}


def _gain(data, dv: str, base: tuple[str, ...]) -> float:
    """(R²_with - R²_without) / (1 - R²_without), as collate_preds computes it (a fraction, not %)."""
    from core.evaluate.babylm.reading_stats import fits

    without, with_pred = (float(f.rsquared) for f in fits(data, dv, base))
    return (with_pred - without) / (1 - without)
