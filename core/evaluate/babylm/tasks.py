"""The official BabyLM evaluation data: which folder is which task, and each item as candidates.

Reads `evaluation_data/{full_eval,fast_eval}/<folder>/*.jsonl` exactly as the 2025 pipeline's
`read_files.py` does (files in directory order, one item per line, label always candidate 0,
metadata in the order the pipeline reports it). Standard library only; never imports torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError

# Folder name -> the pipeline's --task name (the official eval scripts pair them this way).
TASK_OF_FOLDER = {
    "blimp_filtered": "blimp",
    "blimp_fast": "blimp",
    "supplement_filtered": "blimp",
    "supplement_fast": "blimp",
    "ewok_filtered": "ewok",
    "ewok_fast": "ewok",
    "entity_tracking": "entity_tracking",
    "entity_tracking_fast": "entity_tracking",
    "wug_adj_nominalization": "wug_adj",
    "wug_past_tense": "wug_past",
    "comps": "comps",
    "comps_fast": "comps",
}
# Folders of the official data that are not sentence zero-shot tasks (other pipeline modules).
OTHER_EVALUATIONS = {
    "reading",
    "aoa",
    "cdi_childes",
    "glue",
    "glue_filtered",
    "devbench",
    "vqa",
    "vqa_filtered",
    "winoground",
    "winoground_filtered",
}
READING_FILE = "reading_data.csv"  # the pipeline's reading data: `<split>/reading/reading_data.csv`
# Entity tracking's average: each split over its `<split>_<n>_ops` UIDs, then over the splits.
ENTITY_SPLITS = ("regular", "ambiref", "move_contents")


@dataclass
class Item:
    """One evaluation item: candidate sentences, the part of each that is scored, its metadata."""

    sentences: list[str]
    completions: list[str]
    uid: str
    metadata: dict[str, str]  # the keys accuracy is grouped by, in report order (UID included)
    ratio: float | None = None  # WUG: the human preference for candidate 0


@dataclass
class Task:
    """One data folder scored as one pipeline run (e.g. blimp / blimp_filtered)."""

    task: str  # the pipeline's --task
    folder: Path
    items: list[Item] = field(default_factory=list)

    @property
    def subtask(self) -> str:
        return self.folder.name  # the pipeline's `data_path.stem` (folder names have no suffix)

    @property
    def label(self) -> str:
        return f"{self.task}/{self.subtask}"


def _blimp(raw: dict, path: Path) -> Item:
    good, bad = raw["sentence_good"], raw["sentence_bad"]
    if "field" in raw:
        field_ = "syntax/semantics" if raw["field"] == "syntax_semantics" else raw["field"]
        meta = {"field": field_, "UID": raw["UID"], "linguistics_term": raw["linguistics_term"]}
    else:  # the supplement has no field or UID: the file names the UID
        meta = {"field": "supplement", "UID": path.stem, "linguistics_term": "supplement"}
    return Item([good, bad], [good, bad], meta["UID"], meta)


def _ewok(raw: dict, path: Path) -> Item:
    # Both candidates share Context1; only " " + Target is scored (the pipeline's default).
    sentences = [" ".join([raw["Context1"], raw["Target1"]]), " ".join([raw["Context1"], raw["Target2"]])]
    meta = {
        "UID": raw["Domain"],
        "context_type": raw["ContextType"],
        "context_contrast": raw["ContextDiff"],
        "target_contrast": raw["TargetDiff"],
    }
    return Item(sentences, [" " + raw["Target1"], " " + raw["Target2"]], meta["UID"], meta)


def _entity(raw: dict, path: Path) -> Item:
    uid = f"{path.stem}_{raw['numops']}_ops"
    options = list(raw["options"])
    return Item([raw["input_prefix"] + o for o in options], options, uid, {"UID": uid})


def _comps(raw: dict, path: Path) -> Item:
    uid = {"comps_base": "base", "comps_wugs": "wugs", "comps_wugs_dist-before": "wugs_dist_before"}.get(
        path.stem, "wugs_dist_in_between"
    )
    phrase = raw["property_phrase"]
    sentences = [" ".join([raw["prefix_acceptable"], phrase]), " ".join([raw["prefix_unacceptable"], phrase])]
    return Item(sentences, [phrase, phrase], uid, {"UID": uid})


def _wug(task: str):
    def decode(raw: dict, path: Path) -> Item:
        candidates = raw["sentences"].split("\t")
        return Item(candidates, list(candidates), task, {"UID": task}, ratio=float(raw["ratio"]))

    return decode


DECODERS = {
    "blimp": _blimp,
    "ewok": _ewok,
    "entity_tracking": _entity,
    "comps": _comps,
    "wug_adj": _wug("wug_adj"),
    "wug_past": _wug("wug_past"),
}


def read_task(folder: str | Path, task: str, limit: int = 0) -> Task:
    """Every item of one folder, as the pipeline reads it; `limit` > 0 keeps the first `limit`
    items of each file (a quick look, not an official number). Errors name the file and line."""
    folder = Path(folder)
    if task not in DECODERS:
        raise UserError(f"unknown BabyLM task {task!r}: choose from {', '.join(DECODERS)}")
    out = Task(task, folder)
    # Directory order, like the pipeline's `iterdir()`: it fixes the order of report lines.
    for path in folder.iterdir():
        if path.suffix != ".jsonl":
            continue
        kept = 0
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                if limit and kept >= limit:
                    break
                out.items.append(_decode_line(DECODERS[task], line, path, number, task))
                kept += 1
    if not out.items:
        raise UserError(f"{folder}: no items (.jsonl files with one JSON object a line) for task {task}")
    return out


def _decode_line(decode, line: str, path: Path, number: int, task: str) -> Item:
    try:
        raw = json.loads(line)
        item = decode(raw, path)
    except json.JSONDecodeError as err:
        raise UserError(f"{path}:{number}: not valid JSON ({err.msg})") from None
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        raise UserError(
            f"{path}:{number}: not a {task} item ({type(err).__name__}: {err}); "
            "the folder must hold the official BabyLM files unchanged"
        ) from None
    if len(item.sentences) < 2 or any(not s for s in item.sentences):
        raise UserError(f"{path}:{number}: a {task} item needs at least two non-empty candidates")
    return item


@dataclass
class Layout:
    """What a data folder holds: the task folders to score, and the folders left out (why)."""

    tasks: list[tuple[str, Path]]
    warnings: list[str] = field(default_factory=list)
    reading: Path | None = None  # reading/reading_data.csv, scored by `reading` (another pipeline module)


def discover(root: str | Path, fast: bool = False) -> Layout:
    """Task folders under `root`: `evaluation_data/` (then `fast_eval/` or `full_eval/`), one of
    those two, or a single task folder (or `reading/`); `reading/reading_data.csv` when there.
    A folder we do not know is named in a warning."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(
            f"--babylm-data: {root} is not a folder; give the official evaluation_data/ folder (or its full_eval/ or fast_eval/)"
        )
    if root.name in TASK_OF_FOLDER:
        return Layout([(TASK_OF_FOLDER[root.name], root)])
    if root.name == "reading" and (root / READING_FILE).is_file():
        return Layout([], reading=root / READING_FILE)
    split = "fast_eval" if fast else "full_eval"
    if (root / split).is_dir():
        root = root / split
    elif (root / "full_eval").is_dir() or (root / "fast_eval").is_dir():
        raise UserError(
            f"--babylm-data: {root} has no {split}/ folder; "
            + ("drop --fast" if fast else "add --fast")
            + " or give the folder itself"
        )
    layout = Layout([])
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        if sub.name in TASK_OF_FOLDER:
            layout.tasks.append((TASK_OF_FOLDER[sub.name], sub))
        elif sub.name == "reading" and (sub / READING_FILE).is_file():
            layout.reading = sub / READING_FILE
        elif sub.name == "reading":
            layout.warnings.append(f"{sub}: no {READING_FILE} in it; reading not scored")
        elif sub.name in OTHER_EVALUATIONS:
            layout.warnings.append(
                f"{sub}: not a sentence zero-shot task (the pipeline evaluates it with another module); not scored"
            )
        else:
            layout.warnings.append(f"{sub}: unknown folder, not scored (known: {', '.join(sorted(TASK_OF_FOLDER))})")
    if not layout.tasks and layout.reading is None:
        raise UserError(
            f"--babylm-data: no BabyLM task folders in {root} (expected e.g. blimp_filtered/, "
            "ewok_filtered/, entity_tracking/; with --fast, blimp_fast/ ...)"
        )
    return layout
