"""The Train tab's Recipe accordion, handlers called directly: the command shown is the CLI's and starts
the same `recipe` job; a chain is one item whose detail lists each step's status and progress, read
from the rows of a tiny chain's jobs (no worker: the test sets their statuses, as the chain's jobs would)."""

from __future__ import annotations

import json
import os
import shlex
import time

import gradio as gr
import pytest

from core import jobs
from core.cli import build_parser
from core.jobs import spawn
from core.recipe import chain
from studio.context import StudioContext
from studio.panels import recipe as panel

CHAIN = "babyllama-2023-tiny"


class FakeProc:
    pid = os.getpid()


@pytest.fixture
def ctx(workspace, monkeypatch):
    monkeypatch.setattr(spawn, "_launch", lambda run_dir, n: FakeProc())  # no worker: the test sets statuses
    return StudioContext(workspace)


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "babylm_10M"
    folder.mkdir()
    (folder / "childes.train").write_text("the cat sat on the mat .\n" * 20, encoding="utf-8")
    return folder


def _start(ctx, *form) -> tuple:
    """start_recipe's answer as (chains, detail, timer, command); a refusal answers only detail and timer."""
    with gr.Blocks():
        c = panel.build_panel(ctx)
    out = panel.start_recipe(ctx, *form, c=c)
    return tuple(out.get(k) for k in (c.chain, c.detail, c.timer, c.command))


def _rows(md: str) -> dict[str, list[str]]:
    """The detail's table: {step: [what, job, status, progress, note]}."""
    table = [
        [cell.strip() for cell in line.strip()[1:-1].split("|")]
        for line in md.splitlines()
        if line.startswith("| ") and not line.startswith("| step")
    ]
    return {cells[0]: cells[1:] for cells in table}


def _job(h, name: str, kind: str, status: str, step: int = 0, total: int | None = None) -> None:
    """A step's job row as the chain's job would leave it (a live one with this process as its worker)."""
    h.create_run(name, kind, {}, None)
    h.set_status(name, status, pid=os.getpid(), pid_started=jobs.process_start_time(os.getpid()), heartbeat=time.time())
    h.update_progress(name, step, total)


def test_the_command_shown_is_the_cli_command_and_starts_the_same_job(ctx, workspace, data):
    form = [str(data), "", "tok", "tiny", ""]
    command = panel.show_command(ctx, *form)
    argv = shlex.split(command)
    assert argv[:3] == ["babyllama", "recipe", "babyllama-2023"] and "--name" not in argv
    args = build_parser().parse_args(argv[1:])  # what the CLI makes of that command
    from_cli = chain.RecipeOptions(
        data=args.data, babylm_data=args.babylm_data, tokenizer=args.tokenizer, scale=args.scale, name=args.name
    )
    assert from_cli == panel.options(*form) and from_cli.name == CHAIN and from_cli.data == str(data)
    chains, detail, timer, shown = _start(ctx, *form)
    assert shown == command and timer.active and chains["value"] == f"{CHAIN}-recipe"
    with ctx.history() as h:
        row = h.get_run(f"{CHAIN}-recipe")
    assert row.kind == "recipe" and row.command == command
    assert chain.RecipeOptions.from_dict(row.config) == from_cli
    assert f"**{CHAIN}-recipe**: queued" in detail and "NOT the published recipe" in detail
    # A second start of the same chain while it is active is refused, naming the job; nothing new starts.
    again = _start(ctx, *form)
    assert f"job {CHAIN}-recipe is still" in again[1] and not again[2].active
    assert panel.chain_choices(ctx) == [f"{CHAIN}-recipe"]


def test_bad_data_is_refused_naming_the_field(ctx, tmp_path):
    missing = tmp_path / "nowhere"
    assert panel.show_command(ctx, str(missing), "", "", "tiny", "").startswith(
        f"# --data (data folder) {missing}: no such folder, file or corpus"
    )
    out = _start(ctx, "", "", "", "published", "")
    assert "--data (data folder): empty" in out[1] and not out[2].active
    assert panel.chain_choices(ctx) == []


def test_a_chain_is_one_item_whose_detail_lists_every_steps_status_and_progress(ctx, workspace, data):
    job = _start(ctx, str(data), "", "tok", "tiny", "")[0]["value"]
    opts = panel.options(str(data), "", "tok", "tiny", "")
    folder = chain.chain_dir(opts, workspace)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / chain.GPU_FILE).write_text(json.dumps({"skipped": True, "note": "no CUDA on this machine"}))
    with ctx.history() as h:
        h.set_status(job, "running", pid=os.getpid(), pid_started=jobs.process_start_time(os.getpid()), heartbeat=time.time())
        h.update_progress(job, 4, 9)
        _job(h, f"{CHAIN}-gpt2-705M", "train", "finished", 12, 12)
        _job(h, f"{CHAIN}-llama-360M", "train", "running", 6, 12)
        _job(h, f"{CHAIN}-eval-gpt2-705M", "eval", "queued")
    # One item for the chain, whatever its steps' jobs: the recipe job.
    assert panel.chain_choices(ctx) == [job]
    chains, detail, timer = panel.attach(ctx)  # a page load re-attaches to the live chain
    assert chains["value"] == job and timer.active
    rows = _rows(detail)
    assert list(rows) == [s.name for s in chain.recipe.STEPS]
    assert f"**{job}**: running · step 4/9" in detail
    assert rows["gpu-check"][2:] == ["⏭️ skipped", "-", "no CUDA on this machine"]
    assert rows["tokenizer"][2] == "⏭️ skipped"
    assert rows["gpt2-705M"] == ["teacher 1", f"{CHAIN}-gpt2-705M", "✅ completed", "12/12 (100%)", ""]
    assert rows["llama-360M"] == ["teacher 2", f"{CHAIN}-llama-360M", "🏃 running", "6/12 (50%)", ""]
    assert rows["llama-58M"][:3] == ["student (distilled)", f"{CHAIN}-llama-58M", "⏳ queued"]
    assert rows["eval-gpt2-705M"][:3] == ["BabyLM eval", f"{CHAIN}-eval-gpt2-705M", "⏳ queued"]
    assert rows["table"][:3] == ["comparison table", "-", "⏳ queued"]
    # The teacher fails, so does the chain: the step says why, the rest were never started, polling stops.
    with ctx.history() as h:
        h.set_status(f"{CHAIN}-llama-360M", "failed", error="out of memory")
        h.set_status(job, "failed", error=f"recipe step llama-360M: job {CHAIN}-llama-360M ended failed")
    detail, timer = panel.poll(ctx, job)
    rows = _rows(detail)
    assert not timer.active and "**Error:** recipe step llama-360M" in detail
    assert rows["llama-360M"][2:] == ["❌ failed", "6/12 (50%)", "failed: out of memory"]
    assert rows["llama-58M"][2] == "· not started" and rows["gpt2-705M"][2] == "✅ completed"
    nothing, timer = panel.poll(ctx, None)
    assert nothing == "" and not timer.active
