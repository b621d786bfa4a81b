"""Plan, status, run and resume a recipe chain (core.recipe.babyllama2023): every step is an ordinary
background job (`tokenize`, `train`, `distill`, `eval`) with a fixed name `<chain>-<step>`, so the
same command run again finds each step's job: finished ones are skipped, running ones waited for,
failed ones restarted (a training run resumes from its checkpoint). Must not import gradio, studio,
or torch at import time (the GPU check imports it inside the recipe job only).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from core import jobs
from core.errors import UserError
from core.history import FINAL, TRAINING, Run
from core.recipe import babyllama2023 as recipe
from core.recipe.babyllama2023 import Step

KIND = "recipe"
POLL_S = 0.5
TABLE_FILE = "comparison.md"
GPU_FILE = "gpu_check.json"


@dataclass
class RecipeOptions:
    """Everything `babyllama recipe` takes; also the params of a `recipe` job."""

    data: str  # the BabyLM 10M folder of text (absolute)
    babylm_data: str = ""  # evaluation_data/ (or a part of it); "" = <workspace>/evaluation_data/
    tokenizer: str = ""  # an existing tokenizer; "" = the chain trains one on `data`
    scale: str = "published"  # published | tiny (NOT the published recipe)
    name: str = ""  # the chain's name, prefix of every job; "" = babyllama-2023[-tiny]

    def __post_init__(self):
        if self.scale not in recipe.SCALES:
            raise UserError(f"--scale {self.scale}: pick one of {', '.join(recipe.SCALES)}")
        self.name = self.name or default_name(self.scale)

    def to_dict(self) -> dict:
        return {**asdict(self), "published": self.scale == "published"}

    @classmethod
    def from_dict(cls, raw: dict) -> "RecipeOptions":
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


@dataclass(frozen=True)
class StepState:
    """A step, the job that does it and its state: done | skipped | todo | running | failed; a job's
    `job_status` (queued, running, finished, ...) and progress (`done_steps` of `total_steps`) as its row says."""

    step: Step
    job: str
    state: str
    note: str = ""
    job_status: str = ""
    done_steps: int = 0
    total_steps: int = 0


def default_name(scale: str) -> str:
    """The chain's name when `--name` is not given: babyllama-2023, or babyllama-2023-<scale>."""
    return recipe.NAME if scale == "published" else f"{recipe.NAME}-{scale}"


def path_or_name(value: str) -> str:
    """A path that exists is made absolute (the jobs run in their own folders); a name stays a name."""
    path = Path(value).expanduser()
    return str(path.resolve()) if value and path.exists() else value


def check_data(opts: RecipeOptions, ws) -> None:
    """`--data` must be an existing folder or file, or a corpus name of the workspace (before any job starts)."""
    if not opts.data:
        raise UserError("--data (data folder): empty; give the BabyLM 10M training folder (e.g. babylm_10M_clean/)")
    if not Path(opts.data).exists() and opts.data not in ws.corpora():
        raise UserError(
            f"--data (data folder) {opts.data}: no such folder, file or corpus; give the BabyLM 10M "
            "training folder of text (e.g. babylm_10M_clean/) or a corpus name (`babyllama data list`)"
        )


def command(opts: RecipeOptions, ws) -> str:
    """The `babyllama recipe babyllama-2023 ...` command that starts this chain (shown beside the job)."""
    argv = ["babyllama", "recipe", recipe.NAME, "--data", opts.data, "--scale", opts.scale]
    argv += ["--babylm-data", opts.babylm_data] if opts.babylm_data else []
    argv += ["--tokenizer", opts.tokenizer] if opts.tokenizer else []
    argv += ["--name", opts.name] if opts.name != default_name(opts.scale) else []
    return jobs.format_command(argv + ["--workspace", str(ws.root)])


def chain_dir(opts: RecipeOptions, ws) -> Path:
    """`<workspace>/recipes/<chain>/`: the GPU check's verdict, the evals' results, the table."""
    return ws.root / "recipes" / opts.name


def eval_dir(opts: RecipeOptions, ws, model: str) -> Path:
    """Where the eval step of `model` writes its results (results.json, the official layout)."""
    return chain_dir(opts, ws) / "eval" / model


def job_name(opts: RecipeOptions, step: Step) -> str:
    return f"{opts.name}-{step.name}"


def run_name(opts: RecipeOptions, model: str) -> str:
    return f"{opts.name}-{model}"


def tokenizer_name(opts: RecipeOptions) -> str:
    return opts.tokenizer or f"{opts.name}-bpe{recipe.VOCAB[opts.scale]}"


def status(opts: RecipeOptions, ws, history) -> list[StepState]:
    """Every step's state, from the history rows of its job and the chain folder's files."""
    return [_state(opts, step, ws, history) for step in recipe.STEPS]


def _state(opts: RecipeOptions, step: Step, ws, history) -> StepState:
    name, folder = job_name(opts, step), chain_dir(opts, ws)
    if step.kind == "gpu-check":
        if not (folder / GPU_FILE).is_file():
            return StepState(step, "", "todo")
        verdict = json.loads((folder / GPU_FILE).read_text(encoding="utf-8"))
        return StepState(step, "", "skipped" if verdict["skipped"] else "done", verdict["note"])
    if step.kind == "tokenize" and opts.tokenizer:
        return StepState(step, "", "skipped", f"given: {opts.tokenizer}")
    if step.kind == "table":
        done = (folder / TABLE_FILE).is_file()
        return StepState(step, "", "done" if done else "todo", str(folder / TABLE_FILE) if done else "")
    if step.kind in TRAINING:
        name = run_name(opts, step.model)
    row = history.get_run(name) and jobs.refresh(history, name)
    if row is None:
        return StepState(step, name, "todo")
    progress = {"job_status": row.status, "done_steps": row.step or 0, "total_steps": row.total_steps or 0}
    if row.status == "finished":
        return StepState(step, name, "done", **progress)
    if row.status in FINAL:
        return StepState(step, name, "failed", f"{row.status}: {row.error or ''}".rstrip(": "), **progress)
    return StepState(step, name, "running", row.status, **progress)


def format_status(states: list[StepState]) -> str:
    """One line per step: state, name, job, note."""
    lines = []
    for s in states:
        job = f" job {s.job}" if s.job else ""
        lines.append(f"{s.state:8} {s.step.name:18} ({s.step.kind}){job}" + (f": {s.note}" if s.note else ""))
    return "\n".join(lines)


def start(opts: RecipeOptions, ws, history, *, command: str) -> Run:
    """Start the `recipe` job (refused on a missing `--data`, or while another job of this chain's
    recipe is still active)."""
    check_data(opts, ws)
    for row in history.list_runs(kind=KIND):
        if row.status not in FINAL and (row.config or {}).get("name") == opts.name:
            if jobs.refresh(history, row.name).status not in FINAL:
                raise UserError(
                    f"recipe {opts.name}: job {row.name} is still {row.status}; follow it with "
                    f"`babyllama runs logs -f {row.name}`, or stop it first"
                )
    return jobs.start_task(KIND, opts.to_dict(), ws, history, name=history.free_name(f"{opts.name}-recipe"), command=command)


def run(opts: RecipeOptions, ws, history, *, job: str | None = None, log: Callable[[str], None] = print) -> Path:
    """Do every step not done, in order, each waited for; returns the comparison table's path.

    A step whose job does not finish raises a UserError naming it and its log; nothing after it starts,
    and running the same command again restarts from that step.
    """
    chain_dir(opts, ws).mkdir(parents=True, exist_ok=True)
    if opts.scale != "published":
        log(f"scale {opts.scale}: every model is the `{recipe.TINY_PRESET}` preset for a few steps; NOT the published recipe")
    total = len(recipe.STEPS)
    for i, step in enumerate(recipe.STEPS):
        state = _state(opts, step, ws, history)
        if step.kind == "table":
            log(f"step {i + 1}/{total} table: writing {chain_dir(opts, ws) / TABLE_FILE}")
            _do(opts, step, state, ws, history, log)
        elif state.state in ("done", "skipped"):
            log(f"step {i + 1}/{total} {step.name}: {state.state}" + (f" ({state.note})" if state.note else ""))
        else:
            log(
                f"step {i + 1}/{total} {step.name}: "
                + (
                    "waiting for job " + state.job
                    if state.state == "running"
                    else "retrying"
                    if state.state == "failed"
                    else "starting"
                )
            )
            _do(opts, step, state, ws, history, log)
        if job:
            history.update_progress(job, i + 1, total)
    return chain_dir(opts, ws) / TABLE_FILE


def _do(opts: RecipeOptions, step: Step, state: StepState, ws, history, log) -> None:
    if step.kind == "gpu-check":
        return _gpu_check(opts, ws, log)
    if step.kind == "table":
        from core.recipe.table import write_table

        return log(write_table(opts, ws))
    if state.state == "running":
        return _wait(step, state.job, history)
    if state.state == "failed":
        if step.kind in TRAINING and _resumed(state.job, ws, history, log):
            return _wait(step, state.job, history)
        log(f"{step.name}: removing failed job {state.job} to start it again")
        jobs.delete(history, state.job)
    _start_step(opts, step, ws, history)
    _wait(step, state.job, history)


def _resumed(name: str, ws, history, log) -> bool:
    try:
        jobs.resume(name, ws, history)
    except UserError as err:  # no intact checkpoint: the run starts again from step 0
        log(f"{name}: cannot resume ({err})")
        return False
    log(f"{name}: resumed from its newest checkpoint")
    return True


def _start_step(opts: RecipeOptions, step: Step, ws, history) -> None:
    from core.recipe import steps

    steps.start(opts, step, ws, history)


def _wait(step: Step, name: str, history) -> None:
    row = jobs.wait_final(history, name, POLL_S)
    if row.status != "finished":
        raise UserError(
            f"recipe step {step.name}: job {name} ended {row.status}: {row.error or ''}; "
            f"see `babyllama runs logs {name}`; run the same `babyllama recipe` command again to "
            "restart from this step"
        )


def _gpu_check(opts: RecipeOptions, ws, log) -> None:
    """`babyllama doctor --gpu-check` on a CUDA machine (its report kept); on CPU a skip with a note."""
    import torch

    out = chain_dir(opts, ws) / GPU_FILE
    if not torch.cuda.is_available():
        note = "no CUDA on this machine: `babyllama doctor --gpu-check` skipped"
        log(f"gpu-check: {note}")
        out.write_text(json.dumps({"skipped": True, "note": note}), encoding="utf-8")
        return
    argv = [sys.executable, "-m", "core.cli", "doctor", "--gpu-check", "--workspace", str(ws.root)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    (out.parent / "gpu_check.txt").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    if proc.returncode:
        raise UserError(
            f"recipe step gpu-check: `babyllama doctor --gpu-check` failed (exit {proc.returncode}); "
            f"see {out.parent / 'gpu_check.txt'}, fix the machine, then run the recipe again"
        )
    note = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else "passed"
    log(f"gpu-check: {note}")
    out.write_text(json.dumps({"skipped": False, "note": note}), encoding="utf-8")
