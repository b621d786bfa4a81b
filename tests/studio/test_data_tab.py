"""The Data tab's handlers, called directly on a real temp workspace (real `prepare` jobs included)."""

from __future__ import annotations

import re
import time

import gradio as gr
import pytest

from core.history import History
from studio import shared
from studio.context import StudioContext
from studio.tabs import data, data_view

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # gr.Warning outside a request warns


def _ctx(ws) -> StudioContext:
    return StudioContext(ws)


def _runs(ws) -> list[dict]:
    with History(ws.db_path) as h:
        return h.list_runs()


def _tab(ctx) -> data.DataComponents:
    """The tab's components: its handlers answer dicts keyed by them."""
    with gr.Blocks():
        return data.build(ctx)


def _until_done(ctx, c, job: str, timeout: float = 60.0) -> tuple:
    """(job, status, log, timer, corpora table, corpus dropdown) once the job ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = data.poll_job(ctx, job, c)
        if not out[c.panel.timer].active:
            return tuple(out.get(k) for k in (*c.panel.outputs, c.corpora, c.corpus))
        time.sleep(0.1)
    raise AssertionError(f"job {job} did not end in {timeout}s: {out[c.panel.status]}")


def test_build_constructs_with_ids(ready_workspace):
    with gr.Blocks() as demo:
        with gr.Tab("Data"):
            c = data.build(_ctx(ready_workspace))
        data.wire_load(demo, _ctx(ready_workspace), c)
    assert not c.panel.timer.active  # only Start or the load-time re-attach starts polling
    assert isinstance(c.files, gr.File) and c.files.file_count == "multiple"
    assert isinstance(c.corpora, gr.Dataframe) and isinstance(c.histogram, gr.Plot) and isinstance(c.panel.timer, gr.Timer)
    assert c.panel.status.elem_id == "data-status" and c.panel.log.elem_id == "data-log"
    assert c.syn_name.elem_id == "data-syn-name" and c.preview.elem_id == "data-preview"
    assert c.corpus.choices == [("syn", "syn")]
    assert set(c.clean_domains.choices) >= {("wikipedia", "wikipedia"), ("childes", "childes")}


def test_free_name_skips_corpora_and_running_jobs(ready_workspace, tmp_path):
    ctx = _ctx(ready_workspace)
    assert shared.free_output_name(ctx, "syn", "prepare") == "syn-2"
    assert shared.free_output_name(ctx, "fresh", "prepare") == "fresh"
    with History(ready_workspace.db_path) as h:  # a job still starting (no pid yet) holds its output name
        h.create_run("prepare-syn-2", "prepare", {"output": "syn-2"}, tmp_path / "job")
    assert shared.free_output_name(ctx, "syn", "prepare") == "syn-3"


@pytest.mark.parametrize(
    "args, field",
    [
        (("", 1000, "simple", 1), "Corpus name: empty"),
        (("syn", 1000, "simple", 1), "Corpus name: 'syn' is already taken; pick another, e.g. 'syn-2'"),
        (("bad name!", 1000, "simple", 1), "Corpus name 'bad name!' is not a valid name"),
        (("ok", 0, "simple", 1), "Size (words)"),
        (("ok", 1000, "hard", 1), "Complexity"),
        (("ok", 1000, "simple", None), "Seed"),
    ],
)
def test_synthetic_refuses_bad_input_and_starts_nothing(ready_workspace, args, field):
    c = _tab(_ctx(ready_workspace))
    with pytest.warns(UserWarning, match=re.escape(field)):
        out = data.start_synthetic(_ctx(ready_workspace), *args, c=c)
    assert list(out) == [c.panel.status] and field in out[c.panel.status]  # nothing else changes
    assert _runs(ready_workspace) == [] and ready_workspace.corpora() == ["syn"]


def test_folder_and_upload_refusals_name_the_field(ready_workspace, tmp_path):
    ctx = _ctx(ready_workspace)
    c = _tab(ctx)

    def folder(*args):
        return data.start_folder(ctx, *args, c=c)[c.panel.status]

    def upload(*args):
        return data.start_upload(ctx, *args, c=c)[c.panel.status]

    assert "Folder: empty" in folder("  ", "x", "auto", "", [])
    missing = str(tmp_path / "nope")
    assert f"Folder: {missing!r} does not exist" in folder(missing, "x", "auto", "", [])
    assert "Word budget" in folder(str(tmp_path), "x", "auto", "lots", [])
    assert "already taken" in folder(str(tmp_path), "syn", "auto", "", [])
    assert "Files: upload at least one" in upload(None, "x", [])
    (tmp_path / "a.pdf").write_bytes(b"%PDF")
    assert "Files: a.pdf" in upload([str(tmp_path / "a.pdf")], "x", [])
    assert _runs(ready_workspace) == [] and not (ready_workspace.root / "uploads").exists()


def test_synthetic_job_runs_and_the_tick_refreshes_the_lists(workspace):
    ctx = _ctx(workspace)
    assert data.corpora_table(ctx).empty
    c = _tab(ctx)
    out = data.start_synthetic(ctx, "syn", 3000, "medium", 7, c=c)
    job, status, timer, next_name = out[c.panel.job], out[c.panel.status], out[c.panel.timer], out[c.syn_name]
    assert job == "prepare-syn" and "prepare-syn" in status and timer.active
    assert next_name == "syn-2"  # the started one is taken while its job runs
    assert "babyllama data synth --name syn --tokens 3000 --complexity medium --seed 7" in status
    job, status, log, timer, table, dropdown = _until_done(ctx, c, job)
    assert "finished" in status and "step 1/1" in status and "elapsed" in status
    assert "corpus syn written" in log
    assert list(table["name"]) == ["syn"] and table["words"][0] >= 2000 and table["documents"][0] > 0
    assert dropdown.value == "syn" and ("syn", "syn") in dropdown.choices
    assert workspace.corpora() == ["syn"]


def test_failed_job_shows_error_hint_and_stops(workspace, tmp_path):
    ctx = _ctx(workspace)
    with History(workspace.db_path) as h:
        h.create_run("prepare-c", "prepare", {"output": "c"}, tmp_path, command="babyllama data prepare")
        h.set_status("prepare-c", "failed", error="UserError: --source: no usable text in /x", hint="add .txt files")
    (tmp_path / "run.log").write_text("".join(f"line {i}\n" for i in range(100)))
    c = _tab(ctx)
    out = data.poll_job(ctx, "prepare-c", c)
    status, log, timer, dropdown = (out[k] for k in (c.panel.status, c.panel.log, c.panel.timer, c.corpus))
    assert "❌" in status and "failed" in status and "no usable text" in status and "add .txt files" in status
    assert log.split("\n") == [f"line {i}" for i in range(100 - shared.LOG_TAIL_LINES, 100)]
    assert not timer.active and dropdown.value is None


def test_upload_copies_into_the_workspace_and_prepares(workspace, tmp_path):
    ctx = _ctx(workspace)
    (tmp_path / "one.txt").write_text("The cat sat.\nIt was happy.\n\nA dog ran.\n" * 30)
    (tmp_path / "two.jsonl").write_text('{"text": "A bird sang in the tree."}\n' * 40)
    c = _tab(ctx)
    job = data.start_upload(ctx, [str(tmp_path / "one.txt"), str(tmp_path / "two.jsonl")], "up", ["stories"], c=c)[c.panel.job]
    copies = list((workspace.root / "uploads").glob("up-*"))
    assert len(copies) == 1 and sorted(p.name for p in copies[0].iterdir()) == ["one.txt", "two.jsonl"]
    with History(workspace.db_path) as h:
        assert h.get_run(job).config["source"] == str(copies[0])
    assert "finished" in _until_done(ctx, c, job)[1]
    details = data.corpus_details(ctx, "up", c)
    assert "custom" in details[c.summary] and sorted(details[c.file_table]["file"]) == sorted(
        [
            f"{s}/{n}"
            for s in ("train", "dev")
            for n in ("one.txt", "two.jsonl.txt")
            if (workspace.corpus_dir("up") / s / n).is_file()
        ]
    )


def test_folder_job_with_budget(workspace, tmp_path):
    ctx = _ctx(workspace)
    src = tmp_path / "texts"
    src.mkdir()
    (src / "a.txt").write_text("\n\n".join(f"Doc {i} has some words in it." for i in range(300)))
    assert data.suggest_folder_name(ctx, str(src) + "/") == "texts"
    c = _tab(ctx)
    job = data.start_folder(ctx, str(src), "texts", "auto", "500", [], c=c)[c.panel.job]
    assert "finished" in _until_done(ctx, c, job)[1]
    table = data.corpora_table(ctx)
    assert table["kind"][0] == "custom" and table["words"][0] <= 500


def test_tick_without_job_reattaches_to_a_live_one(ready_workspace, tmp_path):
    ctx = _ctx(ready_workspace)
    c = _tab(ctx)
    out = data.poll_job(ctx, "", c)
    job, timer, table, dropdown = out[c.panel.job], out[c.panel.timer], out[c.corpora], out[c.corpus]
    assert c.panel.status not in out  # no job: its last status stays
    assert job == "" and not timer.active and list(table["name"]) == ["syn"] and dropdown.choices == [("syn", "syn")]
    with History(ready_workspace.db_path) as h:
        h.create_run("prepare-x", "prepare", {"output": "x"}, tmp_path / "job")
    out = data.poll_job(ctx, "", c)
    assert out[c.panel.job] == "prepare-x" and out[c.panel.timer].active and "queued" in out[c.panel.status]
    assert c.corpora not in out  # the lists wait for the job's end
    (ready_workspace.data_dir / "new").mkdir()
    (ready_workspace.data_dir / "new" / "manifest.json").write_text("{}")
    assert data.corpus_choices(ctx).choices == [("new", "new"), ("syn", "syn")]


def test_corpus_details_and_histogram(ready_workspace):
    c = _tab(_ctx(ready_workspace))
    summary, splits, files, fig = data.corpus_details(_ctx(ready_workspace), "syn", c).values()
    manifest = data.read_manifest(ready_workspace.corpus_dir("syn"))
    assert "**syn**" in summary and "synthetic" in summary
    assert list(splits["split"]) == ["train", "dev"]
    assert splits["words"][0] == manifest["splits"]["train"]["words"]
    assert splits["documents"][1] == manifest["splits"]["dev"]["documents"]
    assert set(files["file"]) == {"train/synthetic.txt", "dev/synthetic.txt"}
    assert [t.name for t in fig.data] == ["train", "dev"]
    assert sum(fig.data[0].y) == manifest["splits"]["train"]["lines"]  # every non-empty line binned once
    assert data.line_length_figure(None).data == ()
    assert data.corpus_details(_ctx(ready_workspace), None, c)[c.splits].empty
    assert "not a prepared corpus" in data.corpus_details(_ctx(ready_workspace), "ghost", c)[c.summary]


def test_preview_pages(ready_workspace):
    ctx = _ctx(ready_workspace)
    lines = (ready_workspace.corpus_dir("syn") / "train" / "synthetic.txt").read_text().split("\n")
    total = len(lines) - (lines[-1] == "")
    pages = -(-total // data_view.PAGE_LINES)
    text, page, info = data.preview_page(ctx, "syn", "train", 1)
    assert text.split("\n") == lines[:40] and page == 1 and f"page 1 of {pages:,}" in info
    text, page, _ = data.preview_page(ctx, "syn", "train", 1, delta=1)
    assert page == 2 and text.split("\n") == lines[40:80]
    assert data.preview_page(ctx, "syn", "train", 1, delta=-1)[1] == 1  # Prev on page 1 stays
    text, page, info = data.preview_page(ctx, "syn", "train", 10**9)
    assert page == pages and text.split("\n") == lines[(pages - 1) * 40 : total]
    assert (
        data.preview_page(ctx, "syn", "dev", 1)[0].split("\n")[0]
        == (ready_workspace.corpus_dir("syn") / "dev" / "synthetic.txt").read_text().split("\n")[0]
    )
    assert data.preview_page(ctx, None, "train", 3) == ("", 1, "Select a corpus to preview its text.")


def test_pick_corpus_from_a_table_row():
    evt = gr.SelectData(None, {"index": [0, 2], "value": 17995, "row_value": ["syn", "synthetic", 17995]})
    assert data.pick_corpus(evt) == "syn"


def test_whole_number():
    assert data.whole_number("12", "F") == 12 and data.whole_number(3.0, "F") == 3
    for bad in (None, "", "x", 2.5, 0, float("nan")):
        with pytest.raises(data.UserError, match="^F: "):
            data.whole_number(bad, "F")
