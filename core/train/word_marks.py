"""The BabyLM challenge's word marks and budgets: which word counts get a `chck_*` checkpoint, their
names, and the track budgets. Pure functions of the config; what acts on them lives in
core.train.loop (marks) and core.train.callbacks (WordBudget). Must not import torch or gradio.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

from core.errors import Issue

# 1M ... 10M, 20M ... 100M, 200M ... 1000M words seen: the 2025 challenge's checkpoints.
BABYLM_MARKS = tuple(
    [m * 1_000_000 for m in range(1, 10)] + [m * 10_000_000 for m in range(1, 10)] + [m * 100_000_000 for m in range(1, 11)]
)
# Words seen a track allows: its corpus budget x 10 epochs (strict-small: 10M x 10; strict: 100M x 10).
TRACK_BUDGETS = {"none": 0, "strict-small": 100_000_000, "strict": 1_000_000_000}
PREFIX = "chck_"

# Words seen are logged as SQLite int64; 1e15 words is ~1e6 times the strict track's budget.
MAX_WORDS = 10**15
_MAX_CHARS = 40
_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}
_COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmb]?)\s*$", re.IGNORECASE)


def parse_marks(spec: str) -> tuple[int, ...]:
    """`training.checkpoint_words` -> word counts, increasing. "" = none; "babylm" = BABYLM_MARKS;
    else comma-separated counts with an optional k/M/B suffix ("10k,20k", "1M,2.5M", "10000").
    Raises ValueError with what is wrong (the caller names the field)."""
    text = str(spec or "").strip()
    if not text:
        return ()
    if text.lower() == "babylm":
        return BABYLM_MARKS
    marks = []
    for part in text.split(","):
        if len(part.strip()) > _MAX_CHARS:  # Decimal would overflow (or crawl) on a 1M-digit number
            raise ValueError(
                f"a count of {len(part.strip()):,} characters; write at most {MAX_WORDS:,} "
                "words (1000M is the challenge's last mark)"
            )
        match = _COUNT.match(part)
        if not match:
            raise ValueError(f"{part.strip()!r} is not a word count (write 10000, 10k, 2M or 1B)")
        value = Decimal(match.group(1)) * _SUFFIX[match.group(2).lower()]  # exact: 1.1M is 1100000
        if value != int(value) or value <= 0:
            raise ValueError(f"{part.strip()!r} must be a positive whole number of words")
        if value > MAX_WORDS:
            raise ValueError(
                f"{part.strip()!r} is more than {MAX_WORDS:,} words (the words seen "
                "are counted in SQLite's 64-bit integers); write a smaller count"
            )
        marks.append(int(value))
    for before, after in zip(marks, marks[1:]):
        if after <= before:
            raise ValueError(f"word counts must increase: {after:,} comes after {before:,}")
    return tuple(marks)


def mark_name(words: int) -> str:
    """The folder name of the checkpoint at `words`: `chck_<N>M` for whole millions (the challenge's
    names, `chck_1000M` not `chck_1B`), `chck_<N>k` for whole thousands, else `chck_<words>`."""
    if words % 1_000_000 == 0:
        return f"{PREFIX}{words // 1_000_000}M"
    if words % 1_000 == 0:
        return f"{PREFIX}{words // 1_000}k"
    return f"{PREFIX}{words}"


def _names(marks: list[int]) -> str:
    names = [mark_name(m) for m in marks]
    return ", ".join(names) if len(names) <= 4 else f"{names[0]}, {names[1]} ... {names[-1]} ({len(names)} marks)"


def forecast(marks: tuple[int, ...], total_words: int, basis: str, already: int = 0) -> str | None:
    """The note training prints (and `config check` where it can count) about
    `training.checkpoint_words`: how many words the run will see (`basis` says how that was
    counted) and which marks it will and will not reach. None when no mark is left to reach."""
    left = [m for m in marks if m > already]
    if not left:
        return None
    reached = [m for m in left if m <= total_words]
    missed = [m for m in left if m > total_words]
    head = f"training.checkpoint_words: this run will see about {total_words:,} words ({basis})"
    if not missed:
        return f"{head}: it saves every mark left, {_names(reached)}"
    fix = (
        "train longer (training.num_epochs or training.max_steps) or give smaller marks, "
        "e.g. training.checkpoint_words=" + ",".join(mark_name(total_words * k // 4)[len(PREFIX) :] for k in (1, 2, 3))
    )
    if not reached:
        return f"{head}, fewer than the first mark ({mark_name(left[0])}): NO chck_ checkpoint will be saved; {fix}"
    return f"{head}: it saves {_names(reached)} but not {_names(missed)}; for those, {fix}"


def config_forecast(cfg, train_words: int) -> str | None:
    """`forecast` from the config alone, for `config check`: with `training.max_steps` unset a run
    sees its corpus's train words (`train_words`, from the manifest) once per epoch. None when
    there are no marks, the words are unknown, or max_steps decides (that needs the tokenized
    corpus: training prints the count at its start)."""
    try:
        marks = parse_marks(cfg.training.checkpoint_words)
    except ValueError:
        return None
    if not marks or not train_words or cfg.training.max_steps:
        return None
    epochs = cfg.training.num_epochs
    return forecast(marks, train_words * epochs, f"the corpus's {train_words:,} train words x {epochs} epochs")


def track_defaults(cfg):
    """A BabyLM track sets the checkpoint schedule a submission needs: with `training.babylm_track`
    set and `training.checkpoint_words` empty, the marks become `babylm` (the budget guard and the
    export read the track themselves). Returns `cfg`, changed in place."""
    if cfg.training.babylm_track != "none" and not str(cfg.training.checkpoint_words or "").strip():
        cfg.training.checkpoint_words = "babylm"
    return cfg


def check(cfg) -> list[Issue]:
    """Config issues of `training.checkpoint_words` (one issue naming the field)."""
    try:
        parse_marks(cfg.training.checkpoint_words)
    except ValueError as err:
        return [
            Issue(
                "training.checkpoint_words",
                str(err),
                "use babylm, or increasing word counts such as 10k,20k or [1000000, 2000000]",
            )
        ]
    return []


def list_marks(run_dir: Path) -> list[dict]:
    """A run's `chck_*` checkpoints, fewest words first: name, step, words seen and path, read from
    each one's manifest (`step`/`words` None where it is unreadable)."""
    marks = []
    for path in Path(run_dir).glob(f"{PREFIX}*"):
        if not path.is_dir():
            continue
        try:
            manifest = json.loads((path / "checkpoint.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            manifest = {}
        marks.append({"name": path.name, "step": manifest.get("step"), "words": manifest.get("words_seen"), "path": str(path)})
    return sorted(marks, key=lambda m: (m["words"] is None, m["words"] or 0, m["name"]))
