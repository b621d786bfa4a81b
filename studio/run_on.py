"""The "Run on" row of the Train tab and the Sweep accordion: this machine or a cluster of
backends.yaml, its nodes / GPUs / time limit (and a sweep's max-parallel), turned into the same
BackendChoice and `--backend ...` flags as the CLI (`core.backends.choice`); where a run runs.
"""

from __future__ import annotations

import html
from typing import NamedTuple

import gradio as gr

from core.backends import LOCAL, is_scheduled
from core.backends import choice as where_mod
from core.backends.choice import Where
from core.errors import UserError
from core.history.runs import Run
from studio.context import StudioContext

THIS_MACHINE = "this machine"
API_NAMES = ["backend", "nodes", "gpus_per_node", "time"]  # gradio_client keywords
SWEEP_API_NAMES = [*API_NAMES, "max_parallel"]
# Left out of an API call: the cluster's own values (a local run needs none of them).
OPTIONAL_API_NAMES = frozenset({"nodes", "gpus_per_node", "time", "max_parallel"})


class RunOn(NamedTuple):
    target: gr.Dropdown
    nodes: gr.Number
    gpus: gr.Number
    time: gr.Textbox
    max_parallel: gr.Number | None

    @property
    def inputs(self) -> list:
        return [self.target, self.nodes, self.gpus, self.time, *([self.max_parallel] if self.max_parallel else [])]


def choices(ctx: StudioContext) -> list[tuple[str, str]]:
    """(label, --backend value) per target; a broken backends.yaml leaves only this machine."""
    try:
        found = where_mod.targets(ctx.workspace)
    except UserError:
        found = [LOCAL]  # the error is shown when a cluster is chosen or started
    return [(THIS_MACHINE if t == LOCAL else t, t) for t in found]


def defaults(ctx: StudioContext, target: str | None, sweep: bool = False):
    """Field updates for a chosen target: the cluster's nodes, GPUs, time (and array cap), shown
    only for a cluster."""
    try:
        cluster = where_mod.cluster_of(ctx.workspace, target or LOCAL)
    except UserError as err:
        gr.Warning(str(err).split("\n")[0])
        cluster = None
    show = cluster is not None
    updates = [
        gr.update(visible=show, value=cluster.nodes if show else None),
        gr.update(visible=show, value=cluster.gpus_per_node if show else None),
        gr.update(visible=show, value=cluster.time if show else ""),
    ]
    if sweep:
        updates.append(gr.update(visible=show, value=cluster.array_parallelism if show else None))
    return updates


def where_of(target=None, nodes=None, gpus=None, time=None, max_parallel=None) -> Where:
    """The fields' values as a `Where`; the overrides count only for a cluster."""
    backend = (target or LOCAL).strip()
    if backend == THIS_MACHINE:
        backend = LOCAL
    if backend == LOCAL:
        return Where(LOCAL)
    return Where(
        backend,
        _whole(nodes, "nodes"),
        _whole(gpus, "GPUs per node"),
        (str(time).strip() or None) if time is not None else None,
        _whole(max_parallel, "max parallel"),
    )


def flags(ctx: StudioContext, where: Where) -> list[str]:
    """The `--backend ...` flags the equivalent command carries (none for this machine)."""
    return where_mod.flags(ctx.workspace, where)


def choose(ctx: StudioContext, where: Where):
    """The BackendChoice the CLI would build (None: this machine); warnings shown as gr.Warning;
    a bad choice (no sbatch, unknown partition or cluster) raises its UserError."""
    backend, warnings = where_mod.choose(ctx.workspace, where)
    for warning in warnings:
        gr.Warning(warning)
    return backend


def where_html(run: Run | None) -> str:
    """`runs on slurm:gpu job 81 PENDING (Resources)` under the status badge; empty for local runs."""
    if not run or not is_scheduled(run.backend):
        return ""
    return f'<div id="run-where" style="font-size:0.9em">runs on {html.escape(where_mod.describe(run))}</div>'


def build(ctx: StudioContext, prefix: str, sweep: bool = False) -> RunOn:
    """The row (call inside a layout block); choosing a target fills its fields."""
    with gr.Row():
        target = gr.Dropdown(
            choices(ctx),
            value=LOCAL,
            label="Run on",
            allow_custom_value=True,
            info="this machine, or a SLURM cluster of backends.yaml (docs/cluster.md)",
            elem_id=f"{prefix}-run-on",
            scale=2,
        )
        nodes = gr.Number(None, precision=0, minimum=1, label="nodes", visible=False, elem_id=f"{prefix}-nodes")
        gpus = gr.Number(None, precision=0, minimum=0, label="GPUs per node", visible=False, elem_id=f"{prefix}-gpus-per-node")
        time = gr.Textbox("", label="time limit (HH:MM:SS)", visible=False, elem_id=f"{prefix}-time")
        cap = (
            gr.Number(
                None,
                precision=0,
                minimum=1,
                label="trials at once (max-parallel)",
                visible=False,
                elem_id=f"{prefix}-max-parallel",
            )
            if sweep
            else None
        )
    fields = [nodes, gpus, time, *([cap] if cap else [])]
    target.change(lambda t: defaults(ctx, t, sweep), target, fields, show_progress="hidden", api_visibility="private")
    target.focus(lambda: gr.update(choices=choices(ctx)), None, target, show_progress="hidden", api_visibility="private")
    return RunOn(target, nodes, gpus, time, cap)


def _whole(value, field: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise UserError(f"{field}: {value!r} is not a number; give a whole number") from None
    if not number.is_integer():
        raise UserError(f"{field}: {value} is not a whole number")
    return int(number)
