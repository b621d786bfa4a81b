"""The table the pipeline's own scorer, `calculate_results_from_pred.py`, prints for a hand-in: each
task scored from the collated file's `main` predictions against `evaluation_data/full_eval/`, by that
script's rules. Never torch or gradio.

Where its rules differ from the run reports (both are official; participants quote this one):
- entity tracking is a flat mean over every (file, numops) group, not a mean of the split means;
- WUG's Spearman rho is multiplied by 100, and both WUG files are read whole;
- GLUE is the plain mean of the seven tasks' validation accuracies (MRPC and QQP too, not F1).
Reading's gains are in percent as in its report.txt, self-paced first.
Its AoA line hands a dict to a `:.2f` format (a TypeError as written): we print the
`curve_fitness` entry of that dict, the score its `compute_curve_fitness` returns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError

# (label as the script prints it, key of the collated file); the script's order.
ROWS = (
    ("BLIMP", "blimp"),
    ("SUPPLEMENT", "blimp_supplement"),
    ("EWOK", "ewok"),
    ("ENTITY TRACKING", "entity_tracking"),
    ("WUG ADJ", "wug_adj"),
    ("WUG PAST", "wug_past"),
    ("COMPS", "comps"),
    ("READING (SPR)", "reading"),
    ("READING (ET)", "reading"),
    ("GLUE", "glue"),
    ("AoA", "aoa"),
)
COMPS_FILES = {
    "base": "comps_base",
    "wugs_dist_before": "comps_wugs_dist-before",
    "wugs_dist_in_between": "comps_wugs_dist-in-between",
    "wugs": "comps_wugs",
}


@dataclass(frozen=True)
class HandInScore:
    """One line of the table: the script's label, the collated file's key, the number."""

    label: str
    key: str
    value: float


def hand_in_scores(collated: Path, data_root: Path) -> list[HandInScore]:
    """Every line of the script's table for the collated file at `collated`; `data_root` is the
    official `evaluation_data/` folder (its `full_eval/` is read)."""
    full = Path(data_root) / "full_eval"
    if not full.is_dir():
        raise UserError(f"--babylm-data: no {full}; give the official evaluation_data/ folder")
    try:
        preds = json.loads(Path(collated).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"{collated}: not a readable collated file ({err}); make it with `babyllama submission`") from None
    missing = sorted({key for _, key in ROWS} - set(preds))
    if missing:
        raise UserError(f"{collated}: no {', '.join(missing)} (the collated file of `babyllama submission` has them all)")
    from core.submission.scores import reading_gains

    reading = reading_gains(preds["reading"], full / "reading" / "reading_data.csv")
    values = {
        "BLIMP": _matches(preds["blimp"], full / "blimp_filtered", lambda d: d["sentence_good"]),
        "SUPPLEMENT": _matches(preds["blimp_supplement"], full / "supplement_filtered", lambda d: d["sentence_good"]),
        "EWOK": _matches(preds["ewok"], full / "ewok_filtered", lambda d: d["Target1"]),
        "ENTITY TRACKING": _entity_tracking(preds["entity_tracking"], full / "entity_tracking"),
        "WUG ADJ": _wug(preds["wug_adj"], full / "wug_adj_nominalization"),
        "WUG PAST": _wug(preds["wug_past"], full / "wug_past_tense"),
        "COMPS": _comps(preds["comps"], full / "comps"),
        "READING (SPR)": reading["spr"] * 100,
        "READING (ET)": reading["rt"] * 100,
        "GLUE": _glue(preds["glue"], full / "glue_filtered"),
        "AoA": _aoa(preds["aoa"], Path(data_root)),
    }
    return [HandInScore(label, key, float(values[label])) for label, key in ROWS]


def format_table(scores: list[HandInScore]) -> str:
    """The lines the script prints (label, tabs, two decimals)."""
    lines = ["###### RESULTS ######", "====================="]
    lines += [f"{s.label}{_tabs(s.label)}{s.value:.2f}" for s in scores]
    return "\n".join(lines)


def _tabs(label: str) -> str:
    # the script's spacing: a label shorter than 8 characters is followed by two tabs, a longer one by one
    return "\t\t" if len(label) < 8 else "\t"


def _gold(path: Path) -> list[dict]:
    """The data file's lines, parsed as the script reads them (every line a JSON object)."""
    if not path.is_file():
        raise UserError(f"{path}: missing; the scorer reads one data file per task key of the collated file")
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines(keepends=True)]
    except ValueError as err:
        raise UserError(f"{path}: a line is not JSON ({err})") from None


def _accuracy(correct: list[bool], where: str) -> float:
    """Percent of True; the script divides by zero on an empty task, we name it."""
    if not correct:
        raise UserError(f"{where}: no predictions to score")
    return sum(correct) / len(correct) * 100


def _mean(scores: list[float], where: str) -> float:
    if not scores:
        raise UserError(f"{where}: the collated file holds no predictions for it")
    return sum(scores) / len(scores)


def _text(value):
    return value.strip() if isinstance(value, str) else value


def _matches(results: dict, folder: Path, target) -> float:
    """Mean over the UIDs of `results` of the share whose `pred` equals the gold text (stripped);
    the UID's file is `<folder>/<UID>.jsonl`, read in order beside the predictions."""
    scores = []
    for uid, entry in results.items():
        gold = _gold((folder / uid).with_suffix(".jsonl"))  # the script's path, dots in a UID included
        correct = [_text(p["pred"]) == _text(target(g)) for p, g in zip(entry["predictions"], gold)]
        scores.append(_accuracy(correct, f"{folder.name}/{uid}"))
    return _mean(scores, folder.name)


def _entity_tracking(results: dict, folder: Path) -> float:
    """Every .jsonl below `folder` cut into runs as the script walks it (`_runs`), run n scored
    against the predictions of `<stem>_<n>_ops` (`options[0]` is right): the flat mean of every
    run's accuracy."""
    scores = []
    for path in sorted(p for p in folder.glob("**/*") if p.suffix == ".jsonl"):
        for n, rows in enumerate(_runs(_gold(path))):
            key = f"{path.stem}_{n}_ops"
            if not rows or key not in results:
                raise UserError(
                    f"entity_tracking: {path.name} does not fit {key} (the scorer wants each file sorted by numops, 0, 1, 2, ...)"
                )
            preds = results[key]["predictions"]
            if len(preds) < len(rows):
                raise UserError(f"entity_tracking/{key}: {len(preds)} predictions for {len(rows)} items of {path.name}")
            scores.append(_accuracy([_text(p["pred"]) == _text(r["options"][0]) for p, r in zip(preds, rows)], key))
    if not scores:
        raise UserError(f"{folder}: no .jsonl files")
    return _mean(scores, "entity_tracking")


def _runs(rows: list[dict]) -> list[list[dict]]:
    """A counter n from 0 that moves on by one whenever a row's `numops` differs from it: the script
    never reads the number itself, so a file must go 0, 0, ..., 1, 1, ... to be scored as meant."""
    runs: list[list[dict]] = [[]]
    n = 0
    for row in rows:
        if row["numops"] != n:
            runs.append([])
            n += 1
        runs[-1].append(row)
    return runs


def _wug(results: dict, folder: Path) -> float:
    """Spearman's rho x 100 between every prediction's `prob` and its item's human `ratio`, pooled
    over the keys (`wug_adj` reads wug_adj_nominalization.jsonl, any other key wug_past_tense.jsonl)."""
    from scipy.stats import spearmanr

    model, human = [], []
    for key, entry in results.items():
        name = "wug_adj_nominalization" if key == "wug_adj" else "wug_past_tense"
        for p, g in zip(entry["predictions"], _gold(folder / f"{name}.jsonl")):
            model.append(p["prob"])
            human.append(g["ratio"])
    if len(model) < 2:
        raise UserError(f"{folder.name}: {len(model)} WUG predictions; a correlation needs at least 2")
    return float(spearmanr(model, human)[0]) * 100


def _comps(results: dict, folder: Path) -> float:
    """As `_matches`, the gold text being `prefix_acceptable + " " + property_phrase`, each key's file
    from the script's table."""
    scores = []
    for key, entry in results.items():
        if key not in COMPS_FILES:
            raise UserError(f"comps: unknown key {key!r} (the scorer knows {', '.join(COMPS_FILES)})")
        gold = _gold(folder / f"{COMPS_FILES[key]}.jsonl")
        target = (" ".join([g["prefix_acceptable"], g["property_phrase"]]) for g in gold)
        correct = [_text(p["pred"]) == t.strip() for p, t in zip(entry["predictions"], target)]
        scores.append(_accuracy(correct, f"comps/{key}"))
    return _mean(scores, "comps")


def _glue(results: dict, folder: Path) -> float:
    """Mean over the tasks of the validation accuracy (`pred == label`) against `<task>.valid.jsonl`."""
    scores = []
    for task, entry in results.items():
        gold = _gold((folder / task).with_suffix(".valid.jsonl"))
        scores.append(_accuracy([p["pred"] == g["label"] for p, g in zip(entry["predictions"], gold)], f"glue/{task}"))
    return _mean(scores, "glue")


def _aoa(results: dict, data_root: Path) -> float:
    """`compute_curve_fitness(...)["curve_fitness"]` of the collated surprisal rows against cdi_human.csv."""
    from core.evaluate.babylm import aoa, aoa_fit

    human = aoa.find_file(data_root, aoa.HUMAN_FILE)
    if human is None:
        raise UserError(f"--babylm-data: no {aoa.HUMAN_FILE} under {data_root} (full_eval/cdi_childes/ in the official data)")
    rows = results.get("results") or []
    if not rows:
        raise UserError("aoa: the collated file has no surprisal rows")
    return aoa_fit.curve_fitness(aoa.fit_points(rows), aoa.read_human(human)).curve_fitness
