"""`babyllama eval RUN --suite aoa`: the BabyLM 2025 age-of-acquisition evaluation over a run's
`chck_*` checkpoints, by the official pipeline's causal rule (evaluation_pipeline/AoA_word/), batched.

`plan` reads `cdi_childes.json` and `cdi_human.csv` and finds the checkpoints (bad input fails before
any model runs); `run` loads each checkpoint in turn, computes every context's surprisal, writes
`results/<model>/main/zero_shot/causal/AoA_word/surprisal.json` and scores it (`aoa_fit`).
Never imports gradio or studio; torch only inside the functions that run a model.
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError
from core.evaluate.babylm import aoa_fit

OFFICIAL = "https://github.com/babylm/evaluation-pipeline-2025 (AoA_word, causal backend; utils.AoAEvaluator)"
WORDS_FILE, HUMAN_FILE = "cdi_childes.json", "cdi_human.csv"
MIN_CONTEXTS = 20  # eval_aoa.sh's MIN_CONTEXT: words with fewer contexts are left out
OFFICIAL_STEPS = {  # the checkpoints the pipeline (and collate_preds) expects, by track
    "strict-small": tuple([f"chck_{i}M" for i in range(1, 10)] + [f"chck_{i * 10}M" for i in range(1, 11)]),
    "strict": tuple(
        [f"chck_{i}M" for i in range(1, 10)]
        + [f"chck_{i * 10}M" for i in range(1, 11)]
        + [f"chck_{i * 100}M" for i in range(2, 11)]
    ),
}
PLOT_WORDS = 4


@dataclass
class Words:
    """cdi_childes.json after the pipeline's filter: words longer than one character with at least
    `min_contexts` contexts, in file order, each with its contexts as written."""

    path: Path
    words: list[str]
    contexts: list[list[str]]
    dropped: int = 0


@dataclass
class ChildData:
    """cdi_human.csv: per word, the proportion of children producing it at each age (NaN: empty)."""

    path: Path
    ages: list[int]
    words: list[str]
    rows: list[list[float]]


@dataclass
class Checkpoint:
    name: str
    path: Path
    words: float | None  # words seen, read from the name as the pipeline reads it


@dataclass
class AoAPlan:
    words: Words
    human: ChildData | None
    checkpoints: list[Checkpoint]
    model_name: str
    warnings: list[str] = field(default_factory=list)

    @property
    def layout(self) -> str:
        return f"results/{self.model_name}/main/zero_shot/causal/AoA_word"


def find_file(root: Path, name: str) -> Path | None:
    if root.is_file():
        return root if root.name == name else None
    for sub in ("", "cdi_childes", "aoa", "full_eval/cdi_childes", "full_eval/aoa"):
        if (root / sub / name).is_file():
            return root / sub / name
    return None


def read_words(path: Path, min_contexts: int = MIN_CONTEXTS) -> Words:
    """The pipeline's `load_eval`: {word: [{"context": str}, ...]}, one-letter words and words with
    fewer than `min_contexts` contexts left out."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{path}: not a readable JSON file ({err}); use the official {WORDS_FILE}") from None
    if not isinstance(data, dict):
        raise UserError(f'{path}: must be an object {{word: [{{"context": text}}, ...]}}, got a {type(data).__name__}')
    out = Words(Path(path), [], [])
    for word, entries in data.items():
        bad = not isinstance(entries, list) or any(
            not isinstance(e, dict) or not isinstance(e.get("context"), str) for e in entries
        )
        if bad:
            raise UserError(f'{path}: word {word!r} must map to a list of {{"context": text}} objects')
        if len(word) > 1 and len(entries) >= min_contexts:
            out.words.append(word)
            out.contexts.append([e["context"] for e in entries])
    out.dropped = len(data) - len(out.words)
    if not out.words:
        raise UserError(
            f"{path}: no word has {min_contexts} or more contexts (the pipeline's minimum); "
            "use the official file or one with more contexts per word"
        )
    return out


def _number(text: str, path: Path, line: int, column: str) -> float:
    text = text.strip()
    if text.lower() in ("", "na", "nan", "n/a", "null", "none"):
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise UserError(
            f"{path}: line {line}, column {column!r}: {text!r} is not a proportion; give a number or leave the cell empty"
        ) from None


def read_human(path: Path) -> ChildData:
    """cdi_human.csv: a `word` column and age columns "16" ... "30" (the ones present are used)."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
            header = rows[0].keys() if rows else []
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise UserError(f"{path}: not a readable CSV file ({err}); use the official {HUMAN_FILE}") from None
    if "word" not in header:
        raise UserError(
            f"{path}: no 'word' column (columns: {', '.join(header) or 'none'}); "
            "the file needs a word column and one column per age in months (16 ... 30)"
        )
    ages = [age for age in aoa_fit.CHILD_AGES if str(age) in header]
    if not ages:
        raise UserError(f"{path}: no age columns: name them by months, 16 ... 30, as the official {HUMAN_FILE}")
    return ChildData(
        Path(path),
        ages,
        [r["word"] for r in rows],
        [[_number(r[str(a)] or "", path, i + 2, str(a)) for a in ages] for i, r in enumerate(rows)],
    )


def checkpoint_root(folder: Path) -> Path | None:
    """The folder holding the `chck_*` checkpoints of a model folder: the run itself, or the parent
    of a checkpoint, of `main/` in an export (`export --format babylm`) or of a chck_ folder."""
    for candidate in (folder, folder.parent):
        if any(p.is_dir() and p.name.startswith("chck_") for p in candidate.glob("chck_*")):
            return candidate
    return None


def list_checkpoints(root: Path) -> list[Checkpoint]:
    """The `chck_*` folders with a model, fewest words first (by name, as the pipeline reads them)."""
    found = [
        Checkpoint(p.name, p, aoa_fit.step_words(p.name))
        for p in root.glob("chck_*")
        if p.is_dir() and (p / "config.json").is_file()
    ]
    return sorted(found, key=lambda c: (c.words is None, c.words or 0, c.name))


def plan(data: str | Path, folder: Path, model_name: str, limit: int = 0) -> AoAPlan:
    """Everything `run` needs, checked: the CDI files under `data` and the checkpoints beside
    `folder` (the model being evaluated). `limit` keeps the first words only (not official)."""
    root = Path(data).expanduser()
    words_path = find_file(root, WORDS_FILE)
    if words_path is None:
        raise UserError(
            f"--babylm-data {data}: no {WORDS_FILE} (looked in it and in cdi_childes/, aoa/, "
            f"full_eval/cdi_childes/, full_eval/aoa/); give the official evaluation_data/ folder"
        )
    words = read_words(words_path)
    warnings = []
    human_path = find_file(words_path.parent, HUMAN_FILE) or find_file(root, HUMAN_FILE)
    human = read_human(human_path) if human_path else None
    if human is None:
        warnings.append(f"no {HUMAN_FILE} beside {words_path}: surprisal.json is written, but there is no score")
    if limit:
        words.words, words.contexts = words.words[:limit], words.contexts[:limit]
        warnings.append(f"--num-samples {limit}: only the first {len(words.words)} words (not an official run)")
    root_dir = checkpoint_root(Path(folder))
    checkpoints = list_checkpoints(root_dir) if root_dir else []
    if not checkpoints:
        raise UserError(
            f"--suite aoa: {folder} has no chck_* checkpoints beside it; train with "
            "`training.checkpoint_words: babylm` (or increasing word counts, e.g. 10k,20k,40k), "
            "or give a folder made by `babyllama export --format babylm`"
        )
    names = tuple(c.name for c in checkpoints)
    if names not in OFFICIAL_STEPS.values():
        warnings.append(
            f"{len(names)} chck_* checkpoints; a submission needs the official "
            f"{len(OFFICIAL_STEPS['strict-small'])} (strict-small) or {len(OFFICIAL_STEPS['strict'])}"
        )
    unnamed = [c.name for c in checkpoints if c.words is None]
    if unnamed:
        warnings.append(f"{', '.join(unnamed)}: no word count in the name, so the score leaves them out")
    return AoAPlan(words, human, checkpoints, model_name, warnings)


def run(the_plan: AoAPlan, device, batch_size: int = 32, log=print) -> dict:
    """Surprisal of every context at every checkpoint, surprisal.json and the score (JSON-ready,
    with `_files`)."""
    from core.evaluate.babylm.aoa_surprisal import score_checkpoint

    started, entries, summary = time.perf_counter(), [], []
    total = len(the_plan.checkpoints)
    n_contexts = sum(len(c) for c in the_plan.words.contexts)
    for i, ck in enumerate(the_plan.checkpoints):
        t0 = time.perf_counter()
        values = score_checkpoint(ck.path, device, the_plan.words, batch_size)
        words_seen = int(ck.words) if ck.words is not None else None
        at = 0
        for word, contexts in zip(the_plan.words.words, the_plan.words.contexts):
            for cid, context in enumerate(contexts):
                entries.append(
                    {
                        "step": ck.name,
                        "word_count": words_seen,
                        "target_word": word,
                        "context_id": cid,
                        "context": context,
                        "surprisal": values[at],
                    }
                )
                at += 1
        seconds = time.perf_counter() - t0
        finite = [v for v in values if math.isfinite(v)]
        summary.append(
            {
                "name": ck.name,
                "words": words_seen,
                "seconds": seconds,
                "mean_surprisal": sum(finite) / len(finite) if finite else None,
            }
        )
        eta = (time.perf_counter() - started) / (i + 1) * (total - i - 1)
        log(f"  aoa: {ck.name} ({i + 1}/{total}): {n_contexts:,} contexts in {seconds:.1f} s; ETA {eta:.0f} s")
    return _results(the_plan, entries, summary, time.perf_counter() - started)


def surprisal_json(the_plan: AoAPlan, entries: list[dict]) -> str:
    """The pipeline's surprisal.json (json.dump, indent 2)."""
    meta = {
        "model_name": the_plan.model_name,
        "use_bos_only": False,
        "total_steps": len(the_plan.checkpoints),
        "completed_steps": len({e["step"] for e in entries}),
    }
    return json.dumps({"metadata": meta, "results": entries}, indent=2)


def fit_points(entries: list[dict]) -> dict[str, tuple[list[float], list[float]]]:
    """Per word, (words seen, surprisal) of every entry, as the score reads surprisal.json."""
    points: dict[str, tuple[list[float], list[float]]] = {}
    for e in entries:
        words = aoa_fit.step_words(e["step"])
        if words is not None:
            steps, values = points.setdefault(e["target_word"], ([], []))
            steps.append(words)
            values.append(float(e["surprisal"]))
    return points


def _results(the_plan: AoAPlan, entries: list[dict], summary: list[dict], seconds: float) -> dict:
    points = fit_points(entries)
    fitness = aoa_fit.curve_fitness(points, the_plan.human).as_dict() if the_plan.human else None
    files = {f"{the_plan.layout}/surprisal.json": surprisal_json(the_plan, entries)}
    if fitness is not None:
        files[f"{the_plan.layout}/aoa_score.json"] = json.dumps({"aoa": fitness["curve_fitness"]}, indent=2)
    return {
        "score": fitness["curve_fitness"] if fitness else None,
        "fitness": fitness,
        "n_words": len(the_plan.words.words),
        "words_dropped": the_plan.words.dropped,
        "contexts": len(entries),
        "checkpoints": summary,
        "warnings": list(the_plan.warnings),
        "layout": the_plan.layout,
        "data": str(the_plan.words.path),
        "rule": rule(),
        "seconds": seconds,
        "contexts_per_s": len(entries) / max(seconds, 1e-9),
        "curves": plot_curves(the_plan, entries, fitness, points),
        "_files": files,
    }


def rule() -> dict:
    """What decides the numbers, recorded with every result."""
    return {
        "rule": "babylm-2025 AoA causal",
        "reference": OFFICIAL,
        "text": "context.strip() + ' ' + word",
        "surprisal": "nats, summed over the tokens reaching into the word",
        "min_contexts": MIN_CONTEXTS,
        "threshold": "log2(300000) bits - 0.5 (log2(300000) - min surprisal in nats): the pipeline's mixed units",
        "fit_points": "every (checkpoint, context) surprisal; contexts are not averaged",
    }


def plot_curves(
    the_plan: AoAPlan, entries: list[dict], fitness: dict | None, points: dict[str, tuple[list[float], list[float]]] | None = None
) -> dict:
    """A few words (those the score used first) for the report: `model` = mean surprisal per
    checkpoint, `children` = the CDI proportions by age, and the fits the score reads: `model_fit`
    (the sigmoid through every (checkpoint, context) point, as surprisal by words seen),
    `children_fit` (by age, in half months) and `aoa` (each side's age of acquisition, None where
    its fit gives none)."""
    points = fit_points(entries) if points is None else points
    chosen = list((fitness or {}).get("valid_words", []))[:PLOT_WORDS]
    chosen += [w for w in the_plan.words.words if w not in chosen][: PLOT_WORDS - len(chosen)]
    model: dict[str, dict[str, list[float]]] = {w: {} for w in chosen}
    for e in entries:
        if e["target_word"] in model and e["word_count"] and math.isfinite(e["surprisal"]):
            model[e["target_word"]].setdefault(str(e["word_count"]), []).append(e["surprisal"])
    out = {
        "model": {w: [[int(k), sum(v) / len(v)] for k, v in by.items()] for w, by in model.items()},
        "children": {},
        "model_fit": {},
        "children_fit": {},
        "aoa": {},
    }
    for w in chosen:
        out["model_fit"][w], model_words = _model_fit_curve(*points.get(w, ([], [])))
        out["aoa"][w] = {"model_words": model_words, "child_months": None}
        if the_plan.human and w in the_plan.human.words:
            row = the_plan.human.rows[the_plan.human.words.index(w)]  # the first row, as the score reads it
            out["children"][w] = [[a, v] for a, v in zip(the_plan.human.ages, row) if math.isfinite(v)]
            out["children_fit"][w] = _child_fit_curve(the_plan.human.ages, row)
            out["aoa"][w]["child_months"] = aoa_fit.child_aoa(the_plan.human.ages, row)
    return out


def _model_fit_curve(steps: list[float], surprisals: list[float]) -> tuple[list[list[float]], float | None]:
    """(the fitted surprisal at 25 log-spaced word counts over the checkpoints, the AoA in words seen)."""
    fit = aoa_fit.model_fit(surprisals, steps)
    if fit is None or min(steps) <= 0:
        return [], None
    lo, hi = math.log10(min(steps)), math.log10(max(steps))
    curve = [[10 ** (lo + (hi - lo) * i / 24), fit.surprisal(10 ** (lo + (hi - lo) * i / 24))] for i in range(25)]
    log_step = aoa_fit.model_aoa(surprisals, steps)
    return [pt for pt in curve if math.isfinite(pt[1])], None if log_step is None else 10**log_step - 1


def _child_fit_curve(ages: list[int], row: list[float]) -> list[list[float]]:
    params = aoa_fit.child_fit(ages, row)
    if params is None:
        return []
    return [[a / 2, float(aoa_fit.sigmoid(a / 2, *params))] for a in range(2 * ages[0], 2 * ages[-1] + 1)]
