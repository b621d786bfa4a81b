"""The Train tab: pick data + tokenizer + preset, edit training fields, Start / Stop / Resume, and a
live dashboard fed by a `gr.Timer` that asks the history only for rows it has not seen yet.

Runs are background jobs started exactly as `babyllama train` starts them; the tab holds no job
state, so a reload or a second browser re-attaches from the database.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import gradio as gr

from core import config as config_mod
from core import jobs
from core.config import presets
from core.config.resolve import data_checker
from core.errors import UserError
from core.history import TRAINING, Status
from studio import forms, run_on
from studio.context import StudioContext
from studio.panels import recipe as recipe_panel
from studio.panels import sweep as sweep_panel
from studio.shared import corpus_choices, refresh_on_open, with_params
from studio.tabs import train_dashboard as dashboard
from studio.tabs.train_dashboard import Dashboard

LIVE = ("queued", "running")


@dataclass(frozen=True)
class Controls:
    """The form (preset, data, name, the training fields, "Run on") and its buttons."""

    preset: gr.Dropdown
    corpus: gr.Dropdown
    tokenizer: gr.Dropdown
    name: gr.Textbox
    fields: list
    start: gr.Button
    stop: gr.Button
    resume: gr.Button
    show: gr.Button
    command: gr.Code
    where: run_on.RunOn

    @property
    def inputs(self) -> list:
        """Every input of a start, in `start_run`'s order."""
        return [self.preset, self.corpus, self.tokenizer, self.name, *self.fields, *self.where.inputs]


@dataclass(frozen=True)
class TrainComponents:
    """The Train tab: its form and buttons, and its dashboard."""

    controls: Controls
    dash: Dashboard


# ---------------------------------------------------------------------------------------------
# Handlers (plain functions; tests call them directly)
# ---------------------------------------------------------------------------------------------


def run_choices(ctx: StudioContext) -> list[str]:
    """Every training run's name, newest first (the badge beside it shows the live status)."""
    with ctx.history() as h:
        return [r.name for r in jobs.refresh_all(h) if r.kind in TRAINING]


def attach(ctx: StudioContext, c: TrainComponents) -> dict:
    """On page load: select the newest live run (else the newest run) and start polling it; fill the
    data choices, selecting the first corpus and tokenizer."""
    choices = run_choices(ctx)
    with ctx.history() as h:
        live = [name for name in choices if h.get_run(name).status in LIVE]
    selected = live[0] if live else (choices[0] if choices else None)
    corpora, tokenizers = ctx.workspace.corpora(), ctx.workspace.tokenizers()
    return {
        c.dash.run: gr.update(choices=choices, value=selected),
        c.dash.timer: gr.Timer(active=bool(selected)),
        c.controls.corpus: gr.update(choices=corpora, value=corpora[0] if corpora else None),
        c.controls.tokenizer: gr.update(choices=tokenizers, value=tokenizers[0] if tokenizers else None),
    }


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


def start_run(ctx: StudioContext, preset, corpus, tokenizer, name, *values, c: TrainComponents) -> dict:
    """Validate, then start the job the CLI would start; a taken name gets a free suffix. Answers the
    run picker (the new run selected), the dashboard timer, the status and the command box."""
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
        return {c.dash.timer: gr.Timer(), c.dash.status: f"<pre style='color:#c62828'>{err}</pre>"}
    return {
        c.dash.run: gr.update(choices=run_choices(ctx), value=run_name),
        c.dash.timer: gr.Timer(active=True),
        c.dash.status: "",
        c.controls.command: command,
    }


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


# ---------------------------------------------------------------------------------------------
# Builder
# ---------------------------------------------------------------------------------------------


def _build_controls(ctx: StudioContext) -> Controls:
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
    return Controls(preset, corpus, tokenizer, name, fields, start, stop, resume, show, command, where)


def build(ctx: StudioContext) -> TrainComponents:
    """The Train tab (call inside `with gr.Tab(...)`)."""
    f = _build_controls(ctx)
    sweep_panel.build_launcher(ctx, [f.preset, f.corpus, f.tokenizer, *f.fields])  # the form as a sweep's base
    recipe_panel.build_panel(ctx)  # a recipe chain: one item, a row per step
    d = dashboard.build()
    c = TrainComponents(f, d)
    form = f.inputs

    f.preset.change(partial(preset_values, ctx), f.preset, f.fields, api_visibility="private")
    names = ["preset", "corpus", "tokenizer", "name", *forms.api_params(), *run_on.API_NAMES]  # gradio_client keywords
    f.show.click(
        with_params(partial(show_command, ctx), names, run_on.OPTIONAL_API_NAMES), form, f.command, api_name="train_command"
    )
    # The command box follows the form: every change (a preset filling thirty fields included:
    # `always_last` coalesces the burst) redraws it; the page load fills it (wire_load).
    gr.on(
        [component.change for component in form],
        partial(show_command, ctx),
        form,
        f.command,
        trigger_mode="always_last",
        show_progress="hidden",
        api_visibility="private",
    )
    f.start.click(
        with_params(partial(start_run, ctx, c=c), names, run_on.OPTIONAL_API_NAMES),
        form,
        [d.run, d.timer, d.status, f.command],
        api_name="start_run",
    )
    f.stop.click(partial(stop_run, ctx), d.run, d.status, api_name="stop_run")
    f.resume.click(partial(resume_run, ctx), d.run, [d.timer, d.status], api_name="resume_run")
    d.refresh.click(lambda: gr.update(choices=run_choices(ctx)), None, d.run, api_visibility="private")
    # Opening a dropdown refreshes its choices: the Data/Tokenizer tabs or the CLI may have added some.
    f.corpus.focus(partial(corpus_choices, ctx), None, f.corpus, show_progress="hidden", api_visibility="private")
    f.tokenizer.focus(
        lambda: gr.update(choices=ctx.workspace.tokenizers()), None, f.tokenizer, show_progress="hidden", api_visibility="private"
    )
    dashboard.wire(ctx, d)
    return c


def wire_load(demo: gr.Blocks, ctx: StudioContext, c: TrainComponents, tab: gr.Tab | None = None) -> None:
    """Re-attach on every page load (pick the live run, refresh the data choices); opening the tab
    refreshes the run, corpus and tokenizer choices and keeps what is selected."""
    f, d = c.controls, c.dash
    demo.load(partial(attach, ctx, c=c), None, [d.run, d.timer, f.corpus, f.tokenizer], api_visibility="private").then(
        partial(show_command, ctx), f.inputs, f.command, show_progress="hidden", api_visibility="private"
    )
    refresh_on_open(demo, tab, partial(fresh_choices, ctx), None, [d.run, f.corpus, f.tokenizer], on_load=False)


def fresh_choices(ctx: StudioContext):
    """(runs, corpora, tokenizers) dropdown updates with fresh choices; their values stay."""
    return (
        gr.update(choices=run_choices(ctx)),
        gr.update(choices=ctx.workspace.corpora()),
        gr.update(choices=ctx.workspace.tokenizers()),
    )
