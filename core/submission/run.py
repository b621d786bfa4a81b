"""Make what a submission lacks: each missing part is an ordinary background job (`eval`, or
`export` for the model folders), started one at a time in the plan's order and waited for, so a
machine never runs 20 evaluations at once; then collate. Done parts are never redone, running
ones are waited for, so after a crash the same command resumes. A part that fails or comes out
short stops the chain with its name and log. Never imports torch or gradio.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from core import jobs
from core.errors import UserError
from core.history import Run
from core.submission.plan import ACTIVE, Part, SubmissionPlan, make_plan

POLL_S = 1.0


@dataclass
class SubmissionOptions:
    """Everything `babyllama submission` takes; also the params of a `submission` job."""

    run: str
    track: str
    babylm_data: str
    word_scale: float = 1.0
    collate_only: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "SubmissionOptions":
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


def plan_for(opts: SubmissionOptions, ws, history) -> SubmissionPlan:
    from pathlib import Path

    data = Path(opts.babylm_data).expanduser()
    if not (data / "fast_eval").is_dir() or not (data / "full_eval").is_dir():
        raise UserError(
            f"--babylm-data {opts.babylm_data}: needs the official evaluation_data/ folder, with full_eval/ and fast_eval/ inside"
        )
    return make_plan(opts.run, opts.track, str(data.resolve()), ws, history, opts.word_scale)


def run_submission(opts: SubmissionOptions, ws, history, *, job: str | None = None, log=print):
    """Start and wait for every missing part, then collate; returns (plan, collated file)."""
    from core.submission.collate import collate

    plan = plan_for(opts, ws, history)
    _check_run(plan, history)
    for note in plan.schedule:
        log(f"missing checkpoint: {note}")
    if plan.budget:
        log(f"warning: {plan.budget}")
    if not opts.collate_only:
        todo = [p for p in plan.parts if p.status not in ("done", "unavailable")]
        log(f"{plan.track}: {len(plan.parts) - len(todo)} of {len(plan.parts)} parts done or unavailable, {len(todo)} to make")
        for i, part in enumerate(todo):
            _make(part, plan, ws, history, log)
            if job:
                history.update_progress(job, i + 1, len(todo))
        plan = plan_for(opts, ws, history)
    out = collate(plan, log)
    log_hand_in_scores(plan, out, log)
    return plan, out


def log_hand_in_scores(plan: SubmissionPlan, collated, log=print) -> None:
    """The table the pipeline's `calculate_results_from_pred.py` prints for this hand-in, logged and
    kept in `<run>/submission/hand_in_scores.json` (never in the hand-in tree)."""
    import json
    from pathlib import Path

    from core.submission.hand_in import format_table, hand_in_scores

    try:
        scores = hand_in_scores(collated, Path(plan.data))
    except UserError as err:
        log(f"calculate_results_from_pred.py's table: not computed: {err}")
        return
    (plan.results_dir.parent / "hand_in_scores.json").write_text(json.dumps([asdict(s) for s in scores], indent=2))
    log("calculate_results_from_pred.py's table for this hand-in:\n" + format_table(scores))


def _check_run(plan: SubmissionPlan, history) -> None:
    row = history.get_run(plan.run)
    if row.status in ACTIVE:
        raise UserError(
            f"run {plan.run!r} is {row.status}: its final model is not there yet; wait for it to "
            "finish (`babyllama runs logs -f " + plan.run + "`), then run the submission"
        )


def _make(part: Part, plan: SubmissionPlan, ws, history, log) -> None:
    if part.status == "short":
        raise UserError(
            f"{part.kind} part, revision {part.revision}: made but incomplete ({part.note}); the "
            f"eval does not write those files: see {part.output}, and delete it to make it again"
        )
    if part.status in ACTIVE:
        log(f"{part.name}: waiting for job {part.job}")
        _wait(part, part.job, history)
        return
    if part.status == "failed":
        log(f"{part.name}: its last job {part.job} failed; trying again")
    name = history.free_name(f"sub-{plan.run}-{part.name}"[:100])
    log(f"{part.name}: job {name}: {part.command(plan.data)}")
    _start(part, plan, ws, history, name)
    _wait(part, name, history)


def _start(part: Part, plan: SubmissionPlan, ws, history, name: str) -> None:
    command = part.command(plan.data) + f" --workspace {ws.root}"
    if part.kind == "export":
        from core.export.runner import ExportOptions

        params = ExportOptions(part.model, "babylm", output=str(part.output)).to_dict()
    else:
        from core.evaluate.options import EvalOptions

        params = EvalOptions(
            model=part.model,
            suites=(part.suite,),
            babylm_data=plan.data,
            fast=part.kind == "fast",
            revision=part.revision,
            output=str(part.output),
            suites_given=True,
        ).to_dict()
    jobs.start_task(part.kind if part.kind == "export" else "eval", params, ws, history, name=name, command=command)


def _wait(part: Part, name: str, history) -> None:
    row = jobs.wait_final(history, name, POLL_S)
    if row.status != "finished":
        raise UserError(
            f"{part.kind} part, revision {part.revision}: job {name} ended {row.status}: "
            f"{row.error or ''}; see `babyllama runs logs {name}`"
        )


def start_detached(opts: SubmissionOptions, ws, history) -> Run:
    """The same chain as a background `submission` job (plan checked first); returns its row."""
    from datetime import datetime

    plan = plan_for(opts, ws, history)
    _check_run(plan, history)
    name = history.free_name(f"submission-{opts.run}-{datetime.now():%Y%m%d-%H%M%S}"[:100])
    argv = ["babyllama", "submission", opts.run, "--track", opts.track, "--babylm-data", plan.data]
    argv += [] if opts.word_scale == 1 else ["--word-scale", f"{opts.word_scale:g}"]
    argv += ["--collate-only"] if opts.collate_only else []
    return jobs.start_task(
        "submission",
        {**opts.to_dict(), "babylm_data": plan.data},
        ws,
        history,
        name=name,
        command=jobs.format_command(argv + ["--workspace", str(ws.root)]),
    )
