"""Train tab handlers called directly: start/stop/resume, incremental polling, the CLI command."""

from __future__ import annotations

import shlex
import time

import gradio as gr

from core import config
from core.config import presets
from core.history import FINAL
from studio import forms, plots
from studio.context import StudioContext
from studio.tabs import train as tab
from studio.tabs import train_dashboard as dashboard


def _tab(ctx) -> tab.TrainComponents:
    """The tab's components: its handlers answer dicts keyed by them."""
    with gr.Blocks():
        return tab.build(ctx)


def _start(ctx, form) -> tuple:
    """`start_run`'s answer as (run picker, timer, status, command); a key it leaves out is None."""
    c = _tab(ctx)
    out = tab.start_run(ctx, *form, c=c)
    return out.get(c.dash.run), out.get(c.dash.timer), out.get(c.dash.status), out.get(c.controls.command)


def _tick(ctx, run, cache) -> tuple:
    """One dashboard tick as (cache, figure, status, progress, samples, log, timer)."""
    d = _tab(ctx).dash
    out = dashboard.tick(ctx, run, cache, "step", d)
    return tuple(out[k] for k in d.outputs)


def _form(ctx, preset="tiny", name="", **changes):
    values = tab.preset_values(ctx, preset)
    for path, value in changes.items():
        values[forms.FORM_PATHS.index(path.replace("__", "."))] = value
    return [preset, "syn", "tok", name, *values]


def _until_final(ctx, run, cache=None, timeout=90):
    d = _tab(ctx).dash
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cache = dashboard.tick(ctx, run, cache, "step", d)[d.cache]
        with ctx.history() as h:
            if h.get_run(run).status in FINAL:
                out = dashboard.tick(ctx, run, None, "step", d)  # a fresh session: the whole figure
                return tuple(out[k] for k in d.outputs)
        time.sleep(0.3)
    raise AssertionError(f"{run} did not finish")


def test_start_polls_incrementally_and_turns_the_timer_off(ready_workspace):
    ctx = StudioContext(ready_workspace)
    run_update, timer, message, command = _start(ctx, _form(ctx, name="ui-1", training__max_steps=20))
    assert run_update["value"] == "ui-1" and timer.active and message == ""
    cache, fig, status, progress, samples, log, timer = _until_final(ctx, "ui-1")
    assert "finished" in status and "step 20/20" in progress and not timer.active
    names = {trace.name for trace in fig.data}
    assert {"loss", "loss (smoothed)", "eval loss"} <= names
    assert cache.last_step == 20 and "Samples at step 20" in samples and "step 20/20" in log
    # A tick with nothing new fetches only the last step again, not the whole history, and
    # leaves the figure as it is.
    before = cache.points()
    d = _tab(ctx).dash
    out = dashboard.tick(ctx, "ui-1", cache, "tokens", d)
    assert out[d.cache].points() == before and out[d.plot] == gr.skip()
    assert out[d.status] == gr.skip() and out[d.log] == gr.skip()  # nothing new: nothing sent again


def test_command_shown_starts_the_same_config_as_the_cli(ready_workspace):
    ctx = StudioContext(ready_workspace)
    form = _form(ctx, name="same", training__lr=0.002, training__batch_size=4, training__fp16=True)
    command = tab.show_command(ctx, *form)
    argv = shlex.split(command)
    assert argv[:4] == ["babyllama", "train", "--config", "tiny"]
    from_cli = config.load(presets.find(argv[3]), argv[4:])
    from_ui = tab._resolve(ctx, *form[:4], form[4:])[0]
    assert from_cli == from_ui and from_ui.training.lr == 0.002 and from_ui.training.fp16


def test_bad_form_shows_every_problem_and_starts_nothing(ready_workspace):
    ctx = StudioContext(ready_workspace)
    form = _form(ctx, training__lr=-1.0)
    form[1] = "no-such-corpus"
    run_update, timer, message, _ = _start(ctx, form)
    assert "training.lr" in message and "data.train_path" in message
    with ctx.history() as h:
        assert h.list_runs() == []


def test_taken_name_gets_a_suffix_and_stop_resume_work(ready_workspace):
    ctx = StudioContext(ready_workspace)
    _start(ctx, _form(ctx, name="dup", training__max_steps=5))
    _until_final(ctx, "dup")
    run_update, *_ = _start(ctx, _form(ctx, name="dup", training__max_steps=100000, training__save_steps=0))
    assert run_update["value"] == "dup-2"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with ctx.history() as h:
            if (h.get_run("dup-2").step or 0) >= 5:
                break
        time.sleep(0.2)
    assert "stop requested" in tab.stop_run(ctx, "dup-2")
    out = _until_final(ctx, "dup-2")
    assert "stopped" in out[2]
    timer, message = tab.resume_run(ctx, "dup-2")
    assert timer.active and "resumed" in message
    tab.stop_run(ctx, "dup-2")
    assert "stopped" in _until_final(ctx, "dup-2")[2]


def test_attach_selects_the_live_run_after_a_reload(ready_workspace):
    ctx = StudioContext(ready_workspace)
    c = _tab(ctx)
    out = tab.attach(ctx, c)
    assert out[c.dash.run]["value"] is None and not out[c.dash.timer].active
    _start(ctx, _form(ctx, name="live", training__max_steps=100000, training__save_steps=0))
    out = tab.attach(ctx, c)  # what a fresh page load does
    runs, timer, corpora, tokenizers = (out[k] for k in (c.dash.run, c.dash.timer, c.controls.corpus, c.controls.tokenizer))
    assert runs["value"] == "live" and timer.active
    assert (corpora["choices"], corpora["value"]) == (["syn"], "syn") and (tokenizers["choices"], tokenizers["value"]) == (
        ["tok"],
        "tok",
    )
    tab.stop_run(ctx, "live")
    _until_final(ctx, "live")


def test_tab_builds(ready_workspace):
    ctx = StudioContext(ready_workspace)
    with gr.Blocks():
        with gr.Tab("Train"):
            components = tab.build(ctx)
    # Positional: the i-th field must be FORM_PATHS[i], or a value would land in another key.
    assert [c.elem_id for c in components.controls.fields] == [
        "train-" + path.replace(".", "-").replace("_", "-") for path in forms.FORM_PATHS
    ]


def test_grammar_while_training_from_the_form_draws_the_pairs_panel(ready_workspace, shared_data):
    ctx = StudioContext(ready_workspace)
    form = _form(
        ctx,
        name="grammar",
        training__max_steps=8,
        eval__pairs_every=4,
        eval__pairs_limit=4,
        eval__pairs_dir=str(shared_data / "blimp-sample"),
    )
    argv = shlex.split(tab.show_command(ctx, *form))
    assert "eval.pairs_every=4" in argv and "eval.pairs_limit=4" in argv
    assert _start(ctx, form)[2] == ""
    cache, fig = _until_final(ctx, "grammar")[:2]
    steps = [int(step) for step in cache.series["pairs_acc"]["step"]]
    assert steps == [0, 4, 8]
    assert "pairs accuracy" in {t.name for t in fig.data}
    assert plots.PAIRS_TITLE in {a.text for a in fig.layout.annotations}


def test_choosing_teachers_starts_a_distillation_the_cli_would_start(ready_workspace):
    ctx = StudioContext(ready_workspace)
    _start(ctx, _form(ctx, name="teacher", training__max_steps=5))
    _until_final(ctx, "teacher")
    assert tab.teacher_choices(ctx) == ["teacher"]
    form = _form(ctx, name="student", training__max_steps=4, distillation__teacher_models=["teacher"], distillation__alpha=0.25)
    argv = shlex.split(tab.show_command(ctx, *form))
    assert argv[:4] == ["babyllama", "distill", "--config", "tiny"]
    from_cli = config.load_distillation(presets.find(argv[3]), None, argv[4:])
    assert from_cli == tab._resolve(ctx, *form[:4], form[4:])[0]
    run_update, timer, message, command = _start(ctx, form)
    assert message == "" and command.startswith("babyllama distill")
    out = _until_final(ctx, "student")
    assert "finished" in out[2] and "kl_loss" in out[0].series
    with ctx.history() as h:
        run = h.get_run("student")
    assert run.kind == "distill" and run.config["distillation"]["alpha"] == 0.25


def test_babylm_checkpoints_option_is_the_cli_key(ready_workspace):
    """The "BabyLM checkpoints" pick and the fast-suite folder reach the run's config as the CLI
    would set them; a typed schedule is checked like any config value."""
    ctx = StudioContext(ready_workspace)
    command = tab.show_command(ctx, *_form(ctx, training__checkpoint_words="babylm", training__babylm_track="strict-small"))
    assert "training.checkpoint_words=babylm" in command and "training.babylm_track=strict-small" in command
    assert "training.checkpoint_words=20k,10k" not in tab.show_command(ctx, *_form(ctx))
    _, _, message, _ = _start(ctx, _form(ctx, name="bad-marks", training__checkpoint_words="20k,10k"))
    assert "training.checkpoint_words" in message
    with ctx.history() as h:
        assert h.get_run("bad-marks") is None


def test_a_locked_history_is_a_busy_message_not_an_app_error(ready_workspace, monkeypatch):
    import os
    import sqlite3

    from core import jobs
    from core.history import schema

    monkeypatch.setattr(schema, "BUSY_TIMEOUT_MS", 300)  # the studio's 10 s wait, shortened
    ctx = StudioContext(ready_workspace)
    run_dir = ready_workspace.root / "models" / "held"
    run_dir.mkdir(parents=True)
    with ctx.history() as h:
        h.create_run("held", "train", {}, run_dir)
        h.create_run("no-dir", "train", {}, None)
        for name in ("held", "no-dir"):  # live rows: our own pid stands for their workers
            h.set_status(
                name, "running", pid=os.getpid(), pid_started=jobs.process_start_time(os.getpid()), heartbeat=time.time()
            )
    lock = sqlite3.connect(ready_workspace.db_path, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        message = _start(ctx, _form(ctx, name="later", training__max_steps=5))[2]
        assert "is busy" in message and "retry" in message
        # The stop file needs no database: the stop is requested all the same.
        assert "stop requested" in tab.stop_run(ctx, "held") and (run_dir / jobs.STOP_FILE).is_file()
        assert "is busy" in tab.stop_run(ctx, "no-dir")  # nothing else can tell it: said, not raised
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    with ctx.history() as h:
        assert h.get_run("later") is None and not h.get_run("held").stop_requested


def test_the_tick_shows_an_events_runs_rows_ingested_from_its_log(workspace):
    """A run on a compute node (`"history": "events"`): the 1 s tick ingests its log, so its curve
    and step show without the worker ever writing studio.db."""
    import json

    from core.events.sink import EventHistory
    from core.history.schema import metric_rows

    run_dir = workspace.root / "models" / "ev"
    run_dir.mkdir(parents=True)
    job = {"kind": "train", "name": "ev", "workspace": str(workspace.root), "history": "events"}
    (run_dir / "job.json").write_text(json.dumps(job))
    ctx = StudioContext(workspace)
    with ctx.history() as h:
        h.create_run("ev", "train", {}, run_dir)
    events = EventHistory(run_dir, job)
    events.set_status("ev", "running", pid=1, host="node-7", heartbeat=time.time())
    events.write_metric_rows(0, metric_rows(0, 5, {"loss": 4.0}, 50, 40))
    cache = _tick(ctx, "ev", None)[0]
    assert cache.last_step == 5 and cache.points() == 1
    events.write_metric_rows(0, metric_rows(0, 10, {"loss": 3.0}, 100, 80))
    cache = _tick(ctx, "ev", cache)[0]
    assert cache.last_step == 10 and cache.points() == 2
    with ctx.history() as h:
        assert h.get_run("ev").status == "running" and h.get_run("ev").host == "node-7"
