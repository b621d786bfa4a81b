"""The Train tab: pick data + tokenizer + preset, edit training fields, Start / Stop / Resume, and a
live dashboard fed by a `gr.Timer` that asks the history only for rows it has not seen yet.

Runs are background jobs started exactly as `babyllama train` starts them; the tab holds no job
state, so a reload or a second browser re-attaches from the database.
"""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import NamedTuple

import gradio as gr

from core import config as config_mod
from core import jobs
from core.config import presets
from core.config.resolve import data_checker
from core.errors import UserError
from core.history import ACTIVE, FINAL, TRAINING, Status
from core.train.best import read_best
from studio import forms, plots, render, run_on
from studio.context import StudioContext
from studio.curves import CAP, Curves
from studio.shared import corpus_choices, log_tail, refresh_on_open, with_params
from studio.tabs import recipe as recipe_tab
from studio.tabs import sweep as sweep_tab

LIVE = ACTIVE
# How often the dashboard polls: each poll redraws the plot in the browser, which a run training
# on this machine's CPU pays for (`python -m benchmarks.plot_floor`: >= 4 % of 2 cores at 1 s).
REFRESH_CHOICES = [("every second", 1.0), ("every 5 s", 5.0), ("every 30 s", 30.0)]
STATE_TTL_S = 600  # longer than the slowest refresh: a polling session's state never expires


class TrainComponents(NamedTuple):
    preset: gr.Dropdown
    corpus: gr.Dropdown
    tokenizer: gr.Dropdown
    name: gr.Textbox
    fields: list
    start: gr.Button
    stop: gr.Button
    resume: gr.Button
    command: gr.Code
    run: gr.Dropdown
    status: gr.HTML
    progress: gr.HTML
    plot: gr.Plot
    samples: gr.Markdown
    log: gr.Textbox
    timer: gr.Timer
    where: run_on.RunOn


# ---------------------------------------------------------------------------------------------
# Handlers (plain functions; tests call them directly)
# ---------------------------------------------------------------------------------------------


def run_choices(ctx: StudioContext) -> list[str]:
    """Every training run's name, newest first (the badge beside it shows the live status)."""
    with ctx.history() as h:
        return [r.name for r in jobs.refresh_all(h) if r.kind in TRAINING]


def attach(ctx: StudioContext):
    """On page load: select the newest live run (else the newest run) and start polling it."""
    choices = run_choices(ctx)
    with ctx.history() as h:
        live = [name for name in choices if h.get_run(name).status in LIVE]
    selected = live[0] if live else (choices[0] if choices else None)
    return (
        gr.update(choices=choices, value=selected),
        gr.Timer(active=bool(selected)),
        ctx.workspace.corpora(),
        ctx.workspace.tokenizers(),
    )


def teacher_choices(ctx: StudioContext) -> list[str]:
    """Finished training and distillation runs: the models a distillation can learn from."""
    with ctx.history() as h:
        return [r.name for r in jobs.refresh_all(h) if r.kind in TRAINING and r.status == Status.FINISHED]


def preset_values(ctx: StudioContext, preset: str) -> list:
    """Fill the training fields from a preset."""
    cfg = config_mod.load(presets.find(preset, ctx.workspace))
    return forms.values_of(cfg)


def _resolve(ctx: StudioContext, preset, corpus, tokenizer, name, values):
    """(config, overrides, command); `values` = the training fields, then the "Run on" fields."""
    values, where = list(values)[: len(forms.FORM_PATHS)], run_on.where_of(*list(values)[len(forms.FORM_PATHS) :])
    base = config_mod.load(presets.find(preset, ctx.workspace))
    overrides = [
        f"data.train_path={corpus or ''}",
        f"data.tokenizer_path={tokenizer or ''}",
        *forms.overrides_from(base, list(values)),
    ]
    named = overrides + ([f"model.name={name}"] if name else [])  # what --model_name does in the CLI
    cfg = config_mod.load(presets.find(preset, ctx.workspace), named, checks=[data_checker(ctx.workspace, require=True)])
    overrides += run_on.flags(ctx, where)  # `--backend ...`: after the overrides, as the CLI accepts them
    return cfg, overrides, forms.cli_command(preset, overrides, name or None, verb=jobs.training_kind(cfg))


def show_command(ctx: StudioContext, preset, corpus, tokenizer, name, *values) -> str:
    """The equivalent `babyllama train ...` command (or the config problems, as a comment)."""
    try:
        return _resolve(ctx, preset, corpus, tokenizer, name, values)[2]
    except UserError as err:
        return "# " + str(err).replace("\n", "\n# ")


def start_run(ctx: StudioContext, preset, corpus, tokenizer, name, *values):
    """Validate, then start the job the CLI would start; a taken name gets a free suffix."""
    try:
        cfg, overrides, _ = _resolve(ctx, preset, corpus, tokenizer, name, values)
        backend = run_on.choose(ctx, run_on.where_of(*values[len(forms.FORM_PATHS) :]))  # nothing started yet
        with ctx.history() as h:
            run_name = h.free_name(name or jobs.default_name(cfg))
            cfg = replace(cfg, model=replace(cfg.model, name=run_name))
            kind = jobs.training_kind(cfg)  # teachers chosen: a distillation run
            command = forms.cli_command(preset, overrides, run_name, verb=kind)
            jobs.start(kind, cfg, ctx.workspace, h, name=run_name, command=command, backend=backend)
    except UserError as err:
        gr.Warning(str(err).split("\n")[0])
        return gr.update(), gr.Timer(), f"<pre style='color:#c62828'>{err}</pre>", gr.update()
    choices = run_choices(ctx)
    return gr.update(choices=choices, value=run_name), gr.Timer(active=True), "", command


def stop_run(ctx: StudioContext, run: str | None) -> str:
    """Ask the selected run to checkpoint and stop (a second click kills it)."""
    if not run:
        return "select a run first"
    try:
        with ctx.history() as h:
            outcome = jobs.stop(run, h)
    except UserError as err:  # e.g. the history is busy (locked by another process): retry
        gr.Warning(str(err))
        return str(err)
    return {"requested": f"stop requested for {run}: it saves a checkpoint and ends", "killed": f"{run} killed"}.get(
        outcome, f"{run} is already {outcome}"
    )


def resume_run(ctx: StudioContext, run: str | None):
    """Continue a stopped/failed/lost run from its last intact checkpoint."""
    if not run:
        return gr.Timer(), "select a run first"
    try:
        with ctx.history() as h:
            jobs.resume(run, ctx.workspace, h)
    except UserError as err:
        gr.Warning(str(err))
        return gr.Timer(), str(err)
    return gr.Timer(active=True), f"{run} resumed"


def tick(ctx: StudioContext, run: str | None, cache: Curves | None, x_axis: str):
    """One poll: fetch rows after the last seen step, update the dashboard; stop when final.

    `cache` is this browser session's `Curves` of the run: float columns capped per metric, so a
    session costs the server about a megabyte whatever the run's length.
    """
    fresh = not isinstance(cache, Curves) or cache.run != run
    cache = Curves(run) if fresh else cache
    if not run:
        return cache, plots.training_figure([]), render.status_badge(None), "", "", "", gr.Timer(active=False)
    with ctx.history() as h:
        row = jobs.refresh(h, run)
        if (row.step or 0) < cache.last_step:  # resumed from an earlier checkpoint
            cache, fresh = Curves(run), True
        # Re-read the last seen step too: an eval row can land just after that step's loss. A long
        # span (a fresh session on a 100k-step run) comes min/max-downsampled by SQLite.
        grew = cache.add(h.metric_columns(run, cache.last_step - 1, buckets=CAP // 2))
        samples = h.samples(run, limit=6)
        position = jobs.queue_position(h, run)
        queued = [(jobs.queue_position(h, q.name), q.name) for q in h.list_runs(status="queued")]
    last, tokens, words = cache.latest()
    status = render.status_badge(row, position) + run_on.where_html(row)
    status += render.queue_markdown(sorted(p for p in queued if p[0]))
    status += render.kept_model_note(read_best(row.run_dir) if row.run_dir else None)
    # Only what changed goes to the browser: no figure is rebuilt, sent or redrawn without a new
    # row. (`babyllama bench studio` measured the same ratio either way on 2 cores: the browser
    # polling at all is the cost there; this still spares the server and the page work.)
    figure = plots.training_figure(cache.series, x_axis) if fresh or grew else gr.skip()
    texts = [
        _changed(cache.sent, key, value)
        for key, value in (
            ("status", status),
            ("samples", render.samples_markdown(samples)),
            ("log", log_tail(row.run_dir, 30)),
        )
    ]
    return (
        cache,
        figure,
        texts[0],
        render.progress_html(row, last, tokens, words),
        *texts[1:],
        gr.Timer(active=row.status not in FINAL),
    )


def refresh_interval(seconds: float | None) -> float:
    """The dashboard timer's interval for the chosen refresh (one per browser session)."""
    return float(seconds) if seconds else REFRESH_CHOICES[0][1]


def _changed(sent: dict, key: str, value: str):
    """`value` if it differs from what this browser session was last sent, else `gr.skip()`."""
    if sent.get(key) == value:
        return gr.skip()
    sent[key] = value
    return value


# ---------------------------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------------------------


def _build_controls(ctx: StudioContext):
    names = sorted(presets.available(ctx.workspace), key=str.lower)
    with gr.Row():
        # Custom values: a script (gradio_client) names corpora, tokenizers and runs made after this
        # page was built; the handlers check them (config validation, the history).
        pick = dict(allow_custom_value=True)
        preset = gr.Dropdown(names, value="tiny" if "tiny" in names else names[0], label="preset", elem_id="train-preset", **pick)
        corpus = gr.Dropdown(ctx.workspace.corpora(), label="corpus (data.train_path)", elem_id="train-corpus", **pick)
        tokenizer = gr.Dropdown(
            ctx.workspace.tokenizers(), label="tokenizer (data.tokenizer_path)", elem_id="train-tokenizer", **pick
        )
        name = gr.Textbox(label="run name (empty: from the preset)", elem_id="train-name")
    base = config_mod.load(presets.find(preset.value, ctx.workspace))
    values = dict(zip(forms.FORM_PATHS, forms.values_of(base)))
    pairs = [(path, values[path]) for path in forms.TRAINING_PATHS]
    fields = []
    with gr.Accordion("Training settings", open=False):
        for row_start in range(0, len(pairs), 4):
            with gr.Row():
                fields += [forms.component_for(path, value) for path, value in pairs[row_start : row_start + 4]]
    with gr.Accordion("Distillation (optional): learn from finished runs as teachers", open=False):
        with gr.Row():
            teachers = forms.teachers_input(values[forms.TEACHERS], teacher_choices(ctx))
            fields += [teachers] + [
                forms.component_for(path, values[path]) for path in forms.DISTILL_PATHS if path != forms.TEACHERS
            ]
        teachers.focus(
            lambda: gr.update(choices=teacher_choices(ctx)), None, teachers, show_progress="hidden", api_visibility="private"
        )
    with gr.Accordion("Grammar while training (optional): score minimal pairs every N steps", open=False):
        with gr.Row():
            fields += [forms.component_for(path, values[path]) for path in forms.EVAL_PATHS]
    with gr.Accordion(
        "BabyLM challenge (optional): chck_ checkpoints at word counts, the fast suite at each",
        open=False,
        elem_id="train-babylm",
    ):
        for row in (forms.BABYLM_PATHS[:3], forms.BABYLM_PATHS[3:]):
            with gr.Row():
                fields += [forms.component_for(path, values[path]) for path in row]
    with gr.Row():
        start = gr.Button("Start", variant="primary", elem_id="train-start")
        stop = gr.Button("Stop", variant="stop", elem_id="train-stop")
        resume = gr.Button("Resume", elem_id="train-resume")
        show = gr.Button("Show CLI command", size="sm")
    where = run_on.build(ctx, "train")
    command = gr.Code(label="equivalent command", language="shell", lines=2, max_lines=4, elem_id="train-command")
    return preset, corpus, tokenizer, name, fields, start, stop, resume, show, command, where


def _build_outputs():
    with gr.Row():
        run = gr.Dropdown([], label="run", elem_id="train-run", scale=3, allow_custom_value=True)
        x_axis = gr.Radio(list(plots.X_AXES), value="step", label="x-axis", scale=2)
        interval = gr.Dropdown(
            REFRESH_CHOICES,
            value=REFRESH_CHOICES[0][1],
            label="plot refresh",
            scale=1,
            info="slower leaves more CPU to a run training on this machine's CPU",
            elem_id="train-refresh",
        )
        refresh = gr.Button("↻ runs", size="sm", scale=0)
    status = gr.HTML(elem_id="train-status")
    progress = gr.HTML()
    plot = gr.Plot(label="training curves", elem_id="train-plot")
    with gr.Row():
        samples = gr.Markdown(elem_id="train-samples")
        log = gr.Textbox(label="log (tail)", lines=12, max_lines=12, elem_id="train-log")
    return run, x_axis, interval, refresh, status, progress, plot, samples, log


def build(ctx: StudioContext) -> TrainComponents:
    """The Train tab (call inside `with gr.Tab(...)`)."""
    preset, corpus, tokenizer, name, fields, start, stop, resume, show, command, where = _build_controls(ctx)
    sweep_tab.build_launcher(ctx, [preset, corpus, tokenizer, *fields])  # the form as a sweep's base
    recipe_tab.build_panel(ctx)  # a recipe chain: one item, a row per step
    run, x_axis, interval, refresh, status, progress, plot, samples, log = _build_outputs()
    # This browser session's capped curves of the selected run: no shared state. An idle session's
    # is dropped after STATE_TTL_S (the next tick rebuilds it); a closed one's Gradio 6.31 keeps an
    # hour whatever the TTL (SessionState.STATE_TTL_WHEN_CLOSED, no public setting), which is why
    # the state itself is kept small.
    cache = gr.State(None, time_to_live=STATE_TTL_S)
    timer = gr.Timer(REFRESH_CHOICES[0][1], active=False)
    form = [preset, corpus, tokenizer, name, *fields, *where.inputs]
    dash = [cache, plot, status, progress, samples, log, timer]

    preset.change(partial(preset_values, ctx), preset, fields, api_visibility="private")
    names = ["preset", "corpus", "tokenizer", "name", *forms.api_params(), *run_on.API_NAMES]  # gradio_client keywords
    show.click(with_params(partial(show_command, ctx), names, run_on.OPTIONAL_API_NAMES), form, command, api_name="train_command")
    # The command box follows the form: every change (a preset filling thirty fields included:
    # `always_last` coalesces the burst) redraws it; the page load fills it (wire_load).
    gr.on(
        [component.change for component in form],
        partial(show_command, ctx),
        form,
        command,
        trigger_mode="always_last",
        show_progress="hidden",
        api_visibility="private",
    )
    start.click(
        with_params(partial(start_run, ctx), names, run_on.OPTIONAL_API_NAMES),
        form,
        [run, timer, status, command],
        api_name="start_run",
    )
    stop.click(partial(stop_run, ctx), run, status, api_name="stop_run")
    resume.click(partial(resume_run, ctx), run, [timer, status], api_name="resume_run")
    refresh.click(lambda: gr.update(choices=run_choices(ctx)), None, run, api_visibility="private")
    # Opening a dropdown refreshes its choices: the Data/Tokenizer tabs or the CLI may have added some.
    corpus.focus(partial(corpus_choices, ctx), None, corpus, show_progress="hidden", api_visibility="private")
    tokenizer.focus(
        lambda: gr.update(choices=ctx.workspace.tokenizers()), None, tokenizer, show_progress="hidden", api_visibility="private"
    )
    # The dashboard's own plumbing: scripts read a run's rows from `/run_metrics` (studio.api).
    gr.on(
        [timer.tick, run.change], partial(tick, ctx), [run, cache, x_axis], dash, show_progress="hidden", api_visibility="private"
    )
    x_axis.change(partial(tick, ctx), [run, gr.State(None), x_axis], dash, show_progress="hidden", api_visibility="private")
    interval.change(refresh_interval, interval, timer, show_progress="hidden", api_visibility="private")
    return TrainComponents(
        preset,
        corpus,
        tokenizer,
        name,
        fields,
        start,
        stop,
        resume,
        command,
        run,
        status,
        progress,
        plot,
        samples,
        log,
        timer,
        where,
    )


def wire_load(demo: gr.Blocks, ctx: StudioContext, c: TrainComponents, tab: gr.Tab | None = None) -> None:
    """Re-attach on every page load (pick the live run, refresh the data choices); opening the tab
    refreshes the run, corpus and tokenizer choices and keeps what is selected."""
    form = [c.preset, c.corpus, c.tokenizer, c.name, *c.fields, *c.where.inputs]
    demo.load(partial(_on_load, ctx), None, [c.run, c.timer, c.corpus, c.tokenizer], api_visibility="private").then(
        partial(show_command, ctx), form, c.command, show_progress="hidden", api_visibility="private"
    )
    refresh_on_open(demo, tab, partial(fresh_choices, ctx), None, [c.run, c.corpus, c.tokenizer], on_load=False)


def fresh_choices(ctx: StudioContext):
    """(runs, corpora, tokenizers) dropdown updates with fresh choices; their values stay."""
    return (
        gr.update(choices=run_choices(ctx)),
        gr.update(choices=ctx.workspace.corpora()),
        gr.update(choices=ctx.workspace.tokenizers()),
    )


def _on_load(ctx: StudioContext):
    runs, timer, corpora, tokenizers = attach(ctx)
    return (
        runs,
        timer,
        gr.update(choices=corpora, value=corpora[0] if corpora else None),
        gr.update(choices=tokenizers, value=tokenizers[0] if tokenizers else None),
    )
