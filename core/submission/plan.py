"""What a BabyLM submission of one run needs, part by part, and which parts are done, running or
missing: read from the parts' folders (`<run_dir>/submission/parts/<part>/`, each an ordinary eval
output with the official files under `results/<model>/<revision>/`) and the history's eval jobs.
Also the track's checks: its `chck_*` schedule and its word budget. Never imports torch or gradio.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError
from core.history.runs import ACTIVE, FINAL, TRAINING, Status
from core.submission import BACKEND, TRACKS
from core.train.word_marks import BABYLM_MARKS, TRACK_BUDGETS, list_marks, mark_name, parse_marks

SUBMISSION_DIR = "submission"
ZERO = f"zero_shot/{BACKEND}"
# Official files of each kind of part, relative to results/<model>/<revision>/ (collate_preds' list).
FAST_FILES = tuple(
    f"{ZERO}/{t}/predictions.json"
    for t in (
        "blimp/blimp_fast",
        "blimp/supplement_fast",
        "ewok/ewok_fast",
        "entity_tracking/entity_tracking_fast",
        "wug_adj/wug_adj_nominalization",
        "wug_past/wug_past_tense",
        "reading",
    )
)
FULL_FILES = tuple(
    f"{ZERO}/{t}/predictions.json"
    for t in (
        "blimp/blimp_filtered",
        "blimp/supplement_filtered",
        "ewok/ewok_filtered",
        "entity_tracking/entity_tracking",
        "wug_adj/wug_adj_nominalization",
        "wug_past/wug_past_tense",
        "comps/comps",
        "reading",
    )
)
AOA_FILES = (f"{ZERO}/AoA_word/surprisal.json",)
GLUE_TASKS = ("boolq", "mnli", "mrpc", "multirc", "qqp", "rte", "wsc")
GLUE_FILES = tuple(f"finetune/{t}/predictions.json" for t in GLUE_TASKS)


def track_marks(track: str) -> tuple[int, ...]:
    """The word marks whose checkpoints a track hands in: strict-small chck_1M ... chck_100M (19),
    strict chck_1M ... chck_1000M (28), as the pipeline's collate_preds lists them."""
    if track not in TRACKS:
        raise UserError(f"--track {track!r}: choose strict-small or strict")
    return tuple(m for m in BABYLM_MARKS if m <= TRACK_BUDGETS[track])


@dataclass
class Part:
    """One eval (or the export) the submission needs: what runs, on what, and where it lands."""

    kind: str  # fast | full | aoa | glue | export
    revision: str  # the official revision name: chck_1M ... or main
    model: str  # what the job evaluates: a checkpoint folder or the run's name
    output: Path  # the job's --output folder
    files: tuple[str, ...]  # official files under results/<model>/<revision>/ when done
    status: str = "missing"  # done | running | queued | short | failed | missing | unavailable
    job: str | None = None  # the newest job that made (or makes) it
    note: str = ""

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.revision}"

    @property
    def suite(self) -> str:
        return {"fast": "babylm", "full": "babylm", "aoa": "aoa", "glue": "glue"}.get(self.kind, "")

    def eval_argv(self, data: str) -> list[str]:
        """The `babyllama eval` (or `export`) arguments that make this part."""
        if self.kind == "export":
            return ["export", self.model, "--format", "babylm", "--output", str(self.output)]
        argv = [
            "eval",
            self.model,
            "--suite",
            self.suite,
            "--babylm-data",
            data,
            "--revision",
            self.revision,
            "--output",
            str(self.output),
        ]
        return argv + (["--fast"] if self.kind == "fast" else [])

    def command(self, data: str) -> str:
        import shlex

        return " ".join(shlex.quote(a) for a in ["babyllama", *self.eval_argv(data)])

    def official_root(self, model_name: str) -> Path:
        return self.output / "results" / model_name / self.revision


@dataclass
class SubmissionPlan:
    """Every part of one run's submission for one track, with the track's checks."""

    run: str
    run_dir: Path
    track: str
    data: str
    word_scale: float
    parts: list[Part]
    schedule: list[str] = field(default_factory=list)  # missing chck_* marks, each with why
    budget: str = ""  # over the track's word budget: says so
    words_seen: int | None = None

    @property
    def folder(self) -> Path:
        return self.run_dir / SUBMISSION_DIR

    @property
    def results_dir(self) -> Path:
        return self.folder / "results"

    def table(self) -> list[dict]:
        return [
            {"part": p.kind, "revision": p.revision, "status": p.status, "job": p.job or "", "note": p.note} for p in self.parts
        ]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.parts:
            out[p.status] = out.get(p.status, 0) + 1
        return out


def make_plan(run: str, track: str, data: str, ws, history, word_scale: float = 1.0) -> SubmissionPlan:
    """The plan of `run` for `track`, each part's status read from disk and the history."""
    marks = track_marks(track)
    if not word_scale > 0:
        raise UserError(f"--word-scale {word_scale}: must be above 0 (1 = the track's real word marks)")
    row = history.get_run(run)
    if row is None or row.kind not in TRAINING:
        raise UserError(f"run {run!r}: no training run of that name; pick one from `babyllama runs`")
    run_dir = Path(row.run_dir).resolve()
    sub = run_dir / SUBMISSION_DIR / "parts"
    cfg = row.config or {}
    have = {m["name"]: m for m in list_marks(run_dir)}
    words_seen = history.last_counts(run)[1]
    parts, schedule = [], []
    for mark in marks:
        revision, source = mark_name(mark), mark_name(max(1, round(mark * word_scale)))
        part = Part("fast", revision, str(run_dir / source), sub / f"fast-{revision}", FAST_FILES)
        if source not in have:
            why = _why_missing(source, round(mark * word_scale), cfg, words_seen)
            part.status, part.note = "unavailable", f"no {source}/: {why}"
            schedule.append(f"{source} (for {revision}): {why}")
        elif source != revision:
            part.note = f"from {source} (word scale {word_scale:g})"
        parts.append(part)
    parts += [
        Part("full", "main", run, sub / "full-main", FULL_FILES),
        Part("aoa", "main", run, sub / "aoa-main", AOA_FILES),
        Part("glue", "main", run, sub / "glue-main", GLUE_FILES),
        Part("export", "main", run, run_dir / SUBMISSION_DIR / "export", ("export.json",)),
    ]
    jobs_by_output = _jobs_by_output(history)
    for part in parts:
        if part.status != "unavailable":
            _status(part, run, jobs_by_output)
    budget = TRACK_BUDGETS[track] * word_scale
    over = ""
    if words_seen is not None and words_seen > budget:
        over = (
            f"the run saw {words_seen:,} words, over the {track} budget of {budget:,.0f} words seen "
            "(set training.babylm_track and training.stop_at_budget=true to stop there)"
        )
    return SubmissionPlan(run, run_dir, track, data, word_scale, parts, schedule, over, words_seen)


def _why_missing(source: str, words: int, cfg: dict, words_seen: int | None) -> str:
    spec = str((cfg.get("training") or {}).get("checkpoint_words") or "")
    try:
        configured = parse_marks(spec)
    except ValueError:
        configured = ()
    if words not in configured:
        return (
            f"training.checkpoint_words ({spec or 'empty'}) has no {words:,}-word mark; "
            "train with training.checkpoint_words=babylm"
        )
    if words_seen is not None and words_seen < words:
        return (
            f"the run saw only {words_seen:,} words, fewer than {words:,} (a larger corpus, more epochs "
            "or training.max_steps would reach it)"
        )
    return "the run passed that mark but saved no folder for it (stopped before the save, or the folder was removed)"


def _jobs_by_output(history) -> dict[str, dict]:
    """The newest eval/export job per --output folder (list_runs is newest first)."""
    from core import jobs

    found: dict[str, dict] = {}
    for row in history.list_runs():
        if row.kind not in ("eval", "export"):
            continue
        out = (row.config or {}).get("output")
        if out and out not in found:
            found[out] = jobs.refresh(history, row.name) if row.status in ACTIVE else row
    return found


def _status(part: Part, model_name: str, jobs_by_output: dict) -> None:
    job = jobs_by_output.get(str(part.output))
    part.job = job.name if job else None
    if job and job.status in ACTIVE:
        part.status = job.status
        return
    root = part.output if part.kind == "export" else part.official_root(model_name)
    complete = (part.output / ("export.json" if part.kind == "export" else "results.json")).is_file()
    if complete:
        absent = [f for f in part.files if not (root / f).is_file()]
        part.status = "short" if absent else "done"
        if absent:
            part.note = "no " + ", ".join(absent)
    elif job and job.status in FINAL - {Status.FINISHED}:
        part.status = "failed"
        part.note = f"job {job.name} {job.status}: {(job.error or '')[:200]}"
