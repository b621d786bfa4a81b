"""The BabyLM fine-tuning data: `glue_filtered/<task>.{train,valid}.jsonl`, each line one example
turned into the (A, B) text pair and integer label the 2025 pipeline's `finetune/dataset.py` builds.

Standard library only: never imports torch, gradio or studio.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError

# The order eval_finetuning.sh runs them in.
TASKS = ("boolq", "multirc", "rte", "wsc", "mrpc", "qqp", "mnli")
FOLDER = "glue_filtered"


@dataclass(frozen=True)
class TaskSpec:
    """How one task's JSON fields become the pair: A = `a_template` filled with the `a_keys` values
    (or those values joined by single spaces), B = the `b_key` value."""

    name: str
    a_keys: tuple[str, ...]
    b_key: str
    num_labels: int = 2
    a_template: str = ""


SPECS = {
    s.name: s
    for s in (
        TaskSpec("boolq", ("question",), "passage"),
        TaskSpec("multirc", ("question", "answer"), "paragraph", a_template="Question: {} Answer: {}"),
        TaskSpec("rte", ("sentence1",), "sentence2"),
        # span2 is the pronoun, span1 the candidate referent: "Does "<span2>" refer to "<span1>" ...?"
        TaskSpec("wsc", ("span2_text", "span1_text"), "text", a_template='Does "{}" refer to "{}" in this passage?'),
        TaskSpec("mrpc", ("sentence1",), "sentence2"),
        TaskSpec("qqp", ("question1",), "question2"),
        TaskSpec("mnli", ("premise",), "hypothesis", num_labels=3),
    )
}


@dataclass(frozen=True)
class Example:
    """One input pair and its label (an index into the task's classes)."""

    a: str
    b: str
    label: int


@dataclass
class TaskData:
    """One task's examples, read and checked; `*_total` are the file's counts before any limit."""

    spec: TaskSpec
    train_file: Path
    valid_file: Path
    train: list[Example] = field(default_factory=list)
    valid: list[Example] = field(default_factory=list)
    train_total: int = 0
    valid_total: int = 0


def parse_tasks(spec: str) -> tuple[str, ...]:
    """--tasks "boolq,mnli" -> those names in the official order ("" = all seven)."""
    names = [n.strip().lower() for n in (spec or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in SPECS]
    if unknown:
        raise UserError(f"--tasks: unknown task(s) {', '.join(unknown)} (choose from {', '.join(TASKS)})")
    return tuple(t for t in TASKS if t in names) if names else TASKS


def find_folder(root: str | Path) -> Path:
    """`glue_filtered/` under `root`: evaluation_data/ (its full_eval/), full_eval/, or the folder itself."""
    root = Path(root).expanduser()
    for candidate in (root, root / FOLDER, root / "full_eval" / FOLDER):
        if candidate.name == FOLDER and candidate.is_dir():
            return candidate
    raise UserError(
        f"--babylm-data: no {FOLDER}/ folder at {root} (nor in its full_eval/); give the official "
        f"evaluation_data/ folder, its full_eval/, or {FOLDER}/ itself (fast_eval/ has no GLUE tasks)"
    )


def read_examples(path: Path, spec: TaskSpec, limit: int = 0) -> tuple[list[Example], int]:
    """(the first `limit` examples (0 = all), the file's count); a bad line is a UserError naming
    the file, the line and the field."""
    if not path.is_file():
        raise UserError(f"{path}: missing; the {spec.name} task needs {path.name} in {path.parent}")
    out, total = [], 0
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            total += 1
            if not limit or len(out) < limit:
                out.append(_example(line, spec, f"{path}:{number}"))
    if not out:
        raise UserError(f"{path}: no examples; the {spec.name} task needs one JSON object a line")
    return out, total


def _example(line: str, spec: TaskSpec, where: str) -> Example:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as err:
        raise UserError(f"{where}: not valid JSON ({err.msg}); each line must be one JSON object") from None
    if not isinstance(raw, dict):
        raise UserError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    texts = []
    for key in (*spec.a_keys, spec.b_key):
        if not isinstance(raw.get(key), str):
            got = "missing" if key not in raw else f"a {type(raw[key]).__name__}"
            raise UserError(
                f"{where}: field {key!r} is {got}; {spec.name} examples need the text fields "
                f"{', '.join((*spec.a_keys, spec.b_key))}"
            )
        texts.append(raw[key])
    label = raw.get("label")
    if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < spec.num_labels:
        raise UserError(f"{where}: field 'label' is {label!r}; {spec.name} labels are the integers 0..{spec.num_labels - 1}")
    a_values = texts[:-1]
    a = spec.a_template.format(*a_values) if spec.a_template else " ".join(a_values)
    return Example(a, texts[-1], label)


def load_tasks(root: str | Path, names: tuple[str, ...], max_train: int = 0, max_valid: int = 0) -> list[TaskData]:
    """Read every chosen task's train and valid files (all checked before anything trains)."""
    folder = find_folder(root)
    out = []
    for name in names:
        spec = SPECS[name]
        data = TaskData(spec, folder / f"{name}.train.jsonl", folder / f"{name}.valid.jsonl")
        data.train, data.train_total = read_examples(data.train_file, spec, max_train)
        data.valid, data.valid_total = read_examples(data.valid_file, spec, max_valid)
        out.append(data)
    return out
