"""Helpers more than one tab uses: background job status and log tail, free output names,
number checks, the equivalent CLI command. Plain functions over core; no state.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path

import gradio as gr

from core import jobs
from core.errors import UserError
from core.eta import eta_text
from core.history import ACTIVE, FINAL, TRAINING, Status
from core.workspace import check_name
from studio.context import StudioContext

LOG_TAIL_LINES = 12
_ICONS = {"finished": "✅", "failed": "❌", "lost": "⚠️", "stopped": "⏹️"}


def _live_runs(ctx: StudioContext, kind: str) -> list[dict]:
    with ctx.history() as h:
        return [
            r
            for r in h.list_runs(kind=kind)  # newest first; dead ones are marked lost on the way
            if r.status in ACTIVE and jobs.refresh(h, r.name).status not in FINAL
        ]


def taken_names(ctx: StudioContext, kind: str) -> set[str]:
    """Corpus (`prepare`) or tokenizer (`tokenize`) names in use: folders, and outputs of live jobs."""
    parent = ctx.workspace.data_dir if kind == "prepare" else ctx.workspace.tokenizers_dir
    names = {p.name for p in parent.iterdir()} if parent.is_dir() else set()
    return names | {(r.config or {}).get("output") for r in _live_runs(ctx, kind)}


def free_output_name(ctx: StudioContext, base: str, kind: str) -> str:
    """`base` if no corpus/tokenizer (or running job) has it, else base-2, base-3, ..."""
    taken, candidate, n = taken_names(ctx, kind), base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def check_output_name(ctx: StudioContext, name: str | None, kind: str, field: str, base: str) -> str:
    """A valid, free output name, else a UserError naming `field` and suggesting a free name."""
    name = (name or "").strip()
    if not name:
        raise UserError(f"{field}: empty; give it a name, e.g. {free_output_name(ctx, base, kind)!r}")
    check_name(name, field)
    if name in taken_names(ctx, kind):
        raise UserError(f"{field}: {name!r} is already taken; pick another, e.g. {free_output_name(ctx, name, kind)!r}")
    return name


def whole_number(value, field: str, minimum: int = 1) -> int:
    """`value` as an int >= minimum, else a UserError naming `field`."""
    try:
        number = float(value)
        ok = number.is_integer() and number >= minimum
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise UserError(f"{field}: {value!r} is not a whole number of at least {minimum:,}")
    return int(number)


def cli_command(ctx: StudioContext, *args: str) -> str:
    """The `babyllama ...` command that does the same as the UI action (shown beside the job)."""
    return jobs.format_command(["babyllama", *args, "--workspace", str(ctx.workspace.root)])


def start_job(ctx: StudioContext, kind: str, params: dict, command: str) -> str:
    """Start a `prepare`/`tokenize` job named after its output; returns the job's name."""
    with ctx.history() as h:
        name = h.free_name(f"{kind}-{params['output']}")
        jobs.start_task(kind, params, ctx.workspace, h, name=name, command=command)
    return name


def active_job(ctx: StudioContext, kind: str) -> str:
    """The newest queued/running job of `kind` (to re-attach after a page reload), or ""."""
    runs = _live_runs(ctx, kind)
    return runs[0].name if runs else ""


def log_tail(run_dir: str | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last `lines` lines of the job's run.log (only its end is read)."""
    path = Path(run_dir or "") / jobs.LOG_FILE
    if not run_dir or not path.is_file():
        return ""
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 16_384))
        text = handle.read().decode("utf-8", errors="replace")
    # A progress bar rewrites its line with \r: show only the latest state of each line.
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.rstrip("\n").split("\n")[-lines:])


def job_view(ctx: StudioContext, job: str) -> tuple[str, str, dict]:
    """(status Markdown, log tail, run row) of job `job`: status, step, elapsed time, error and hint."""
    with ctx.history() as h:
        run = jobs.refresh(h, job)
    status = run.status
    elapsed = (run.ended or time.time()) - (run.started or run.created)
    step = f" · step {run.step or 0}/{run.total_steps}" if run.total_steps else ""
    eta = eta_text(run)  # eval and submission jobs: at their pace so far
    step += f" · {eta}" if eta else ""
    text = f"{_ICONS.get(status, '⏳')} **{job}**: {status}{step} · {elapsed:.1f} s elapsed"
    if run.error:
        text += f"\n\n**Error:** {run.error}"
    if run.hint:
        text += f"\n\n**Hint:** {run.hint}"
    if run.command:
        text += f"\n\nSame as: `{run.command}`"
    return text, log_tail(run.run_dir), run


def corpus_choices(ctx: StudioContext) -> gr.Dropdown:
    """Fresh corpus choices (on opening a dropdown: another tab may have made a corpus meanwhile)."""
    return gr.Dropdown(choices=ctx.workspace.corpora())


def model_choices(ctx: StudioContext) -> list[str]:
    """Finished or stopped training runs that have a final model or a checkpoint, newest first."""
    from core.model.folders import model_folder

    with ctx.history() as h:
        runs = [r for r in h.list_runs() if r.kind in TRAINING and r.status in (Status.FINISHED, Status.STOPPED)]
    return [r.name for r in runs if r.run_dir and model_folder(r.run_dir) is not None]


def refresh_on_open(demo: gr.Blocks, tab: gr.Tab | None, fn, inputs, outputs, *, on_load: bool = True) -> None:
    """Run `fn` when the page loads (unless `on_load` is False) and whenever `tab` is opened: the
    one way a tab's lists catch up with what other tabs and background jobs (Start here's chain)
    made meanwhile, without a reload. Private to the API; no progress spinner."""
    triggers = ([demo.load] if on_load else []) + ([tab.select] if tab is not None else [])
    if triggers:
        gr.on(triggers, fn, inputs, outputs, show_progress="hidden", api_visibility="private")


def refilled(make, fn, **kwargs):
    """`make(fn(), **kwargs)`, refilled by `fn()` on every page load: what `value=fn` does, but
    hidden from the API (a callable value becomes a public `/partial_N` endpoint in Gradio 6.31,
    with no setting to hide it)."""
    component = make(fn(), **kwargs)
    gr.on(triggers=None, fn=fn, inputs=[], outputs=component, show_progress="hidden", api_visibility="private")
    return component


def with_params(fn, names: list[str], optional: frozenset[str] = frozenset()):
    """`fn` called with its inputs positionally, whose API parameters are named `names`: a handler
    taking `*values` would otherwise show gradio_client `param_4`, `param_5`, ... The `optional`
    names default to None, so a gradio_client call may leave them out (an input whose component
    starts empty is otherwise a required parameter)."""

    def call(*args):
        return fn(*args)

    def stream(*args):  # Gradio streams only from a generator function
        yield from fn(*args)

    call = stream if inspect.isgeneratorfunction(getattr(fn, "func", fn)) else call
    call.__signature__ = inspect.Signature(
        [
            inspect.Parameter(
                n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None if n in optional else inspect.Parameter.empty
            )
            for n in names
        ]
    )
    call.__name__ = call.__qualname__ = getattr(getattr(fn, "func", fn), "__name__", "handler")
    call.__doc__ = getattr(getattr(fn, "func", fn), "__doc__", None)
    return call
