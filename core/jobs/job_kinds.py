"""What a worker runs for each job kind (`KINDS`: train, distill, tokenize, prepare, eval, export,
quickstart, submission, recipe), each returning the final status. Heavy imports (torch, datasets,
transformers) happen inside the kind that needs them. Must not import gradio.
"""

from __future__ import annotations

from pathlib import Path

from core import config as config_mod
from core.backends.topology import with_topology
from core.history import History, Kind
from core.jobs.spawn import STOP_FILE
from core.liveness import Heartbeat, retry_busy, say
from core.train.callbacks import Callback, StopOnSignal
from core.workspace import Workspace


def _train(
    job: dict,
    ws: Workspace,
    history: History,
    run_dir: Path,
    is_main: bool,
    *,
    signals: StopOnSignal,
    heartbeat: Heartbeat | None,
) -> str:
    # Progress bars are \r-animations: noise in run.log. Our own lines carry progress and ETA.
    import datasets
    import transformers

    from core.train.callbacks import ConsoleProgress, StopFile, WordBudget
    from core.train.data import load_train_data
    from core.train.loggers import LoggerCallback, SQLiteMetricLogger
    from core.train.loop import make_accelerator, train
    from core.train.trackers import make_trackers
    from core.train.word_marks import TRACK_BUDGETS

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    accelerator, cfg, notes = make_accelerator(config_mod.load(run_dir / "config.yaml"))
    if is_main:
        print(
            f"device {accelerator.device}, {accelerator.num_processes} process(es), "
            f"mixed precision {accelerator.mixed_precision}",
            flush=True,
        )
    for note in notes:
        print(f"note: {note}", flush=True)
    if is_main and cfg.training.torch_compile:
        print(
            "torch_compile: the first step compiles the model (about a minute for llama-10M on CPU; "
            "cached on disk for the next run)",
            flush=True,
        )
    if is_main:
        print("preparing token blocks (cached after the first run of a corpus + tokenizer)", flush=True)
    data, tokenizer = load_train_data(cfg, ws)
    if is_main:
        print(f"{len(data.train):,} training blocks of {cfg.data.seq_length} tokens", flush=True)
    objective = None
    if job["kind"] == "distill":
        from core.train.distill import distill_objective

        objective = distill_objective(cfg, ws, tokenizer, accelerator.device)
        if is_main:
            print(
                f"distilling from {len(cfg.distillation.teachers)} teacher(s): {', '.join(cfg.distillation.teachers)}", flush=True
            )
    probes = []
    if is_main:  # only the main process scores (the others go on to their next step meanwhile)
        from core.train.probes import babylm_probe, pairs_probe

        probes = [p for p in [pairs_probe(cfg, ws, tokenizer), babylm_probe(cfg, ws, tokenizer)] if p is not None]
        for probe in probes:
            print(probe.describe, flush=True)
    resume_from = Path(job["resume_from"]) if job.get("resume_from") else None
    loggers = []
    if is_main:
        resume_step = None
        if resume_from is not None:
            # Rows logged after the checkpoint are replaced by the resumed run, never doubled.
            from core.train.checkpoint import load_state, skipped_notes

            resume_step = load_state(resume_from)["progress"]["step"]
            for note in skipped_notes(resume_from.parent, resume_from):  # a fallback to an older one
                print(f"warning: {note}", flush=True)
            retry_busy(lambda: history.truncate_after(job["name"], resume_step), "clearing rows after the checkpoint")
        loggers.append(SQLiteMetricLogger(history, job["name"]))
        # W&B / TensorBoard when the config asks (their packages were checked before the start).
        loggers += make_trackers(cfg, run_dir, run_name=job["name"], resume_step=resume_step)
        for logger in loggers:  # the saved config also records where and on how many processes it ran
            logger.log_config(with_topology(cfg.to_dict(), job, accelerator))
    callbacks = [
        StopFile(run_dir / STOP_FILE),
        signals,
        LoggerCallback(*loggers),
        _StepReporter(heartbeat) if is_main else None,
    ]
    if is_main:
        callbacks.append(ConsoleProgress())
    budget = TRACK_BUDGETS[cfg.training.babylm_track]
    if budget:
        callbacks.append(WordBudget(cfg.training.babylm_track, budget, cfg.training.stop_at_budget))
    failed = True
    try:
        status = train(
            cfg,
            data,
            tokenizer,
            run_dir,
            [c for c in callbacks if c is not None],
            resume_from=resume_from,
            accelerator=accelerator,
            objective=objective,
            probes=probes,
        )
        failed = False
        return status
    finally:
        _close_loggers(loggers, quiet=failed)


def _close_loggers(loggers: list, quiet: bool) -> None:
    """Close every logger (each flushes what it buffered). While a failure is on its way out
    (`quiet`) a logger that cannot close is one line in run.log, not a second traceback that
    would hide the first; otherwise the first such error is raised once all are closed."""
    first = None
    for logger in loggers:
        try:
            logger.close()
        except Exception as err:
            if quiet:
                say(f"warning: {type(logger).__name__} could not close: {err}")
            first = first or err
    if first is not None and not quiet:
        raise first


class _StepReporter(Callback):
    """Keeps the run row's `step` / `total_steps` current (for lists, ETA and the final row),
    through the heartbeat thread: the loop never waits on the database for it."""

    def __init__(self, heartbeat: Heartbeat):
        self.heartbeat = heartbeat

    def _report(self, state) -> None:
        self.heartbeat.report(state.step, state.max_steps)

    def on_train_begin(self, state, control) -> None:
        self._report(state)

    def on_log(self, state, control, logs) -> None:
        self._report(state)

    def on_step_end(self, state, control) -> None:
        self._report(state)

    def on_train_end(self, state, control, status) -> None:
        self._report(state)


def _tokenize(job: dict, ws: Workspace, history: History, run_dir: Path, is_main: bool) -> str:
    """Train a BPE tokenizer (params: data, vocab_size, min_frequency, output)."""
    from core.tokenizer import resolve_source, train_tokenizer

    p = job["params"]
    retry_busy(lambda: history.update_progress(job["name"], 0, 1), "progress")
    result = train_tokenizer(
        resolve_source(p["data"], ws),
        ws.tokenizer_dir(p["output"]),
        vocab_size=int(p["vocab_size"]),
        min_frequency=int(p["min_frequency"]),
        progress=False,
        add_bos=bool(p.get("add_bos", True)),
    )
    for warning in result.warnings:
        print(f"warning: {warning}", flush=True)
    print(f"tokenizer {p['output']}: vocab {result.vocab_size} in {result.seconds:.1f}s", flush=True)
    retry_busy(lambda: history.update_progress(job["name"], 1, 1), "progress")
    retry_busy(
        lambda: history.add_artifact(job["name"], "tokenizer", str(ws.tokenizer_dir(p["output"])), extra=result.to_dict()),
        "the tokenizer's record",
    )
    return "finished"


def _prepare(job: dict, ws: Workspace, history: History, run_dir: Path, is_main: bool) -> str:
    """Make a corpus (params: source "synthetic" with words/complexity/seed, or a folder path)."""
    from core.data import create_synthetic_corpus, prepare_corpus

    p = job["params"]
    retry_busy(lambda: history.update_progress(job["name"], 0, 1), "progress")
    if p["source"] == "synthetic":
        folder = create_synthetic_corpus(
            ws, p["output"], n_words=int(p["words"]), complexity=p["complexity"], seed=int(p["seed"])
        )
    else:
        folder = prepare_corpus(
            ws,
            [Path(p["source"])],
            p["output"],
            babylm=p.get("babylm", "auto"),
            budget_words=p.get("budget_words"),
            clean_domains=p.get("clean_domains"),
        )
    print(f"corpus {p['output']} written to {folder}", flush=True)
    retry_busy(lambda: history.update_progress(job["name"], 1, 1), "progress")
    retry_busy(lambda: history.add_artifact(job["name"], "corpus", str(folder)), "the corpus's record")
    return "finished"


def _eval(job: dict, ws: Workspace, history: History, run_dir: Path, is_main: bool) -> str:
    """Evaluate a model (params: core.evaluate.runner.EvalOptions as a dict)."""
    from core.evaluate.runner import EvalOptions, run_eval

    opts = EvalOptions.from_dict(job["params"])
    retry_busy(lambda: history.update_progress(job["name"], 0, len(opts.suites)), "progress")
    _, folder = run_eval(opts, ws, history=history, job=job["name"], log=lambda m: print(m, flush=True))
    print(f"eval results in {folder}", flush=True)
    return "finished"


def _export(job: dict, ws: Workspace, history: History, run_dir: Path, is_main: bool) -> str:
    """Export a model (params: core.export.runner.ExportOptions as a dict)."""
    from core.export.runner import ExportOptions, run_export

    retry_busy(lambda: history.update_progress(job["name"], 0, 1), "progress")
    run_export(ExportOptions.from_dict(job["params"]), ws, history=history, job=job["name"], log=lambda m: print(m, flush=True))
    retry_busy(lambda: history.update_progress(job["name"], 1, 1), "progress")
    return "finished"


def _quickstart(job: dict, ws: Workspace, history: History, run_dir: Path, is_main: bool) -> str:
    """Chain a sample corpus, a tokenizer and a tiny run (params: core.jobs.quickstart.plan)."""
    from core.jobs.quickstart import run_chain

    retry_busy(lambda: history.update_progress(job["name"], 0, 3), "progress")
    run = run_chain(job["params"], ws, history, job=job["name"], log=lambda m: print(m, flush=True))
    print(f"quickstart: run {run} started; follow it with `babyllama runs logs -f {run}`", flush=True)
    return "finished"


def _recipe(job: dict, ws: Workspace, history: History, run_dir: Path, is_main: bool) -> str:
    """Run a recipe chain's missing steps, each an ordinary job (params: core.recipe.chain.RecipeOptions)."""
    from core.recipe.chain import RecipeOptions, run

    table = run(RecipeOptions.from_dict(job["params"]), ws, history, job=job["name"], log=lambda m: print(m, flush=True))
    print(f"recipe: comparison table in {table}", flush=True)
    return "finished"


def _submission(job: dict, ws: Workspace, history: History, run_dir: Path, is_main: bool) -> str:
    """Make a BabyLM submission's missing parts, one job at a time, then collate (core.submission)."""
    from core.submission.run import SubmissionOptions, run_submission

    _, out = run_submission(
        SubmissionOptions.from_dict(job["params"]), ws, history, job=job["name"], log=lambda m: print(m, flush=True)
    )
    print(f"submission: collated file {out}", flush=True)
    return "finished"


KINDS = {  # every Kind a run row may have (tests/core/jobs/test_job_kinds.py checks none is missing)
    Kind.TRAIN: _train,
    Kind.DISTILL: _train,
    Kind.TOKENIZE: _tokenize,
    Kind.PREPARE: _prepare,
    Kind.EVAL: _eval,
    Kind.EXPORT: _export,
    Kind.QUICKSTART: _quickstart,
    Kind.SUBMISSION: _submission,
    Kind.RECIPE: _recipe,
}
