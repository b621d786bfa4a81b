"""The Train tab's live dashboard: the run picker, status, progress, curves, samples and log, fed by a
`gr.Timer` whose `tick` asks the history only for rows this browser session has not seen yet.
No engine logic of its own (rows come from core.jobs and the history); no state between calls: a
browser session's curves live in its `gr.State`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import gradio as gr

from core import jobs
from core.history import FINAL
from core.train.best import read_best
from studio import plots, render, run_on
from studio.context import StudioContext
from studio.curves import CAP, Curves
from studio.shared import log_tail

# How often the dashboard polls: each poll redraws the plot in the browser, which a run training
# on this machine's CPU pays for (`python -m benchmarks.plot_floor`: >= 4 % of 2 cores at 1 s).
REFRESH_CHOICES = [("every second", 1.0), ("every 5 s", 5.0), ("every 30 s", 30.0)]
STATE_TTL_S = 600  # longer than the slowest refresh: a polling session's state never expires


@dataclass(frozen=True)
class Dashboard:
    """The dashboard's components; `cache` is this browser session's capped `Curves` of the selected run."""

    run: gr.Dropdown
    x_axis: gr.Radio
    interval: gr.Dropdown
    refresh: gr.Button
    status: gr.HTML
    progress: gr.HTML
    plot: gr.Plot
    samples: gr.Markdown
    log: gr.Textbox
    cache: gr.State
    timer: gr.Timer

    @property
    def outputs(self) -> list:
        """What a tick answers, for an event's `outputs`."""
        return [self.cache, self.plot, self.status, self.progress, self.samples, self.log, self.timer]


def tick(ctx: StudioContext, run: str | None, cache: Curves | None, x_axis: str, d: Dashboard) -> dict:
    """One poll: fetch rows after the last seen step, update the dashboard; stop when final.

    `cache` is this browser session's `Curves` of the run: float columns capped per metric, so a
    session costs the server about a megabyte whatever the run's length.
    """
    fresh = not isinstance(cache, Curves) or cache.run != run
    cache = Curves(run) if fresh else cache
    if not run:
        empty = {d.status: render.status_badge(None), d.progress: "", d.samples: "", d.log: ""}
        return {d.cache: cache, d.plot: plots.training_figure([]), **empty, d.timer: gr.Timer(active=False)}
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
    texts = {
        d.status: _changed(cache.sent, "status", status),
        d.samples: _changed(cache.sent, "samples", render.samples_markdown(samples)),
        d.log: _changed(cache.sent, "log", log_tail(row.run_dir, 30)),
    }
    return {
        d.cache: cache,
        d.plot: figure,
        d.progress: render.progress_html(row, last, tokens, words),
        **texts,
        d.timer: gr.Timer(active=row.status not in FINAL),
    }


def refresh_interval(seconds: float | None) -> float:
    """The dashboard timer's interval for the chosen refresh (one per browser session)."""
    return float(seconds) if seconds else REFRESH_CHOICES[0][1]


def _changed(sent: dict, key: str, value: str):
    """`value` if it differs from what this browser session was last sent, else `gr.skip()`."""
    if sent.get(key) == value:
        return gr.skip()
    sent[key] = value
    return value


def build() -> Dashboard:
    """The dashboard, built where it is called; the timer starts stopped (Start and the page load turn it on)."""
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
    # This browser session's capped curves of the selected run: no shared state. An idle session's
    # is dropped after STATE_TTL_S (the next tick rebuilds it); a closed one's Gradio 6.31 keeps an
    # hour whatever the TTL (SessionState.STATE_TTL_WHEN_CLOSED, no public setting), which is why
    # the state itself is kept small.
    cache = gr.State(None, time_to_live=STATE_TTL_S)
    timer = gr.Timer(REFRESH_CHOICES[0][1], active=False)
    return Dashboard(run, x_axis, interval, refresh, status, progress, plot, samples, log, cache, timer)


def wire(ctx: StudioContext, d: Dashboard) -> None:
    """The dashboard's own plumbing (private: scripts read a run's rows from `/run_metrics`, studio.api)."""
    hidden = dict(show_progress="hidden", api_visibility="private")
    gr.on([d.timer.tick, d.run.change], partial(tick, ctx, d=d), [d.run, d.cache, d.x_axis], d.outputs, **hidden)
    d.x_axis.change(partial(tick, ctx, d=d), [d.run, gr.State(None), d.x_axis], d.outputs, **hidden)
    d.interval.change(refresh_interval, d.interval, d.timer, **hidden)
