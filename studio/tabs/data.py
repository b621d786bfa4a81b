"""The Data tab: make corpora (synthetic text, a folder on this machine, uploaded files) as background
`prepare` jobs, list them, and look inside one (counts, line lengths, a paged preview of its text).
Handlers are plain functions over core; job state stays in SQLite (helpers shared with other tabs: studio/shared.py).
"""

from __future__ import annotations

import shutil
import uuid
from functools import partial
from pathlib import Path
from typing import NamedTuple

import gradio as gr
import pandas as pd

from core.bounds import MAX_SEED, MAX_SYNTH_WORDS
from core.data import list_corpora, read_manifest
from core.data.babylm import VERSIONS
from core.data.cleaning import cleaner_names
from core.data.corpus import parse_word_count
from core.data.synthetic import COMPLEXITIES
from core.errors import UserError
from core.tokenizer import safe_name
from studio import job_panel
from studio.context import StudioContext
from studio.shared import (
    check_output_name,
    cli_command,
    corpus_choices,
    free_output_name,
    refilled,
    refresh_on_open,
    start_job,
    whole_number,
)
from studio.tabs.data_view import FILE_COLUMNS, SPLIT_COLUMNS, corpus_details, line_length_figure, preview_page

UPLOAD_SUFFIXES = (".txt", ".jsonl", ".parquet")
CORPUS_COLUMNS = ["name", "kind", "words", "documents", "created"]


_FIELDS = (
    "syn_name syn_words syn_complexity syn_seed syn_start folder folder_name babylm budget clean_domains "
    "folder_start files upload_name upload_start panel corpora refresh corpus summary "
    "splits file_table histogram preview_split page prev next page_info preview"
).split()
# The tab's components by name (a Textbox, Number, Radio, Dataframe, Plot... each, and the job block's
# JobPanel; see _build_*).
DataComponents = NamedTuple("DataComponents", [(name, gr.components.Component) for name in _FIELDS])


# ---- starting corpora -----------------------------------------------------------------------------


def _started(ctx: StudioContext, c: DataComponents, job: str, base: str, name_box) -> dict:
    """The job block, and the next free name in the form that started `job`."""
    return {**job_panel.started(ctx, c.panel, job), name_box: free_output_name(ctx, base, "prepare")}


def start_synthetic(ctx: StudioContext, name: str, words, complexity: str, seed, c: DataComponents) -> dict:
    """Start a `prepare` job generating synthetic text -> the job block and the next free name."""
    try:
        name = check_output_name(ctx, name, "prepare", "Corpus name", "syn")
        words = whole_number(words, "Size (words)")
        if complexity not in COMPLEXITIES:
            raise UserError(f"Complexity: {complexity!r} is not one of {', '.join(COMPLEXITIES)}")
        seed = whole_number(seed, "Seed", minimum=0)
        params = {"source": "synthetic", "output": name, "words": words, "complexity": complexity, "seed": seed}
        command = cli_command(
            ctx, "data", "synth", "--name", name, "--tokens", str(words), "--complexity", complexity, "--seed", str(seed)
        )
        job = start_job(ctx, "prepare", params, command)
    except UserError as err:
        return job_panel.refused(c.panel, err)
    return _started(ctx, c, job, "syn", c.syn_name)


def start_folder(ctx: StudioContext, folder: str, name: str, babylm: str, budget: str, domains, c: DataComponents) -> dict:
    """Start a `prepare` job on a folder of this machine (BabyLM auto-detected) -> as start_synthetic."""
    try:
        if not (folder or "").strip():
            raise UserError("Folder: empty; give the path of a folder on this machine, e.g. /data/babylm_10M")
        path = Path(folder.strip()).expanduser()
        if not path.exists():
            raise UserError(f"Folder: {str(path)!r} does not exist on this machine; check the path")
        name = check_output_name(ctx, name, "prepare", "Corpus name", safe_name(path.name))
        if babylm not in VERSIONS:
            raise UserError(f"BabyLM version: {babylm!r} is not one of {', '.join(VERSIONS)}")
        budget = (budget or "").strip()
        if budget:
            parse_word_count(budget, "Word budget")
        job = _start_source(ctx, path.resolve(), name, babylm, budget, list(domains or []))
    except UserError as err:
        return job_panel.refused(c.panel, err)
    return _started(ctx, c, job, name, c.folder_name)


def start_upload(ctx: StudioContext, files, name: str, domains, c: DataComponents) -> dict:
    """Copy uploaded files into `<workspace>/uploads/<name>-<id>/` and prepare them as a corpus."""
    try:
        paths = [Path(f if isinstance(f, str) else f.name) for f in (files or [])]
        if not paths:
            raise UserError("Files: upload at least one .txt, .jsonl or .parquet file")
        bad = [p.name for p in paths if p.suffix.lower() not in UPLOAD_SUFFIXES]
        if bad:
            raise UserError(f"Files: {', '.join(bad)}: only .txt, .jsonl and .parquet files can be prepared")
        name = check_output_name(ctx, name, "prepare", "Corpus name", "upload")
        folder = ctx.workspace.root / "uploads" / f"{name}-{uuid.uuid4().hex[:8]}"
        folder.mkdir(parents=True)
        for i, path in enumerate(paths):
            target = folder / path.name
            shutil.copyfile(path, target if not target.exists() else folder / f"{path.stem}-{i}{path.suffix}")
        job = _start_source(ctx, folder, name, "auto", "", list(domains or []))
    except UserError as err:
        return job_panel.refused(c.panel, err)
    return _started(ctx, c, job, name, c.upload_name)


def _start_source(ctx: StudioContext, source: Path, name: str, babylm: str, budget: str, domains: list) -> str:
    params = {"source": str(source), "output": name, "babylm": babylm, "budget_words": budget or None, "clean_domains": domains}
    args = ["data", "prepare", "--source", str(source), "--name", name, "--babylm", babylm]
    args += (["--budget-words", budget] if budget else []) + (["--clean-domains", ",".join(domains)] if domains else [])
    return start_job(ctx, "prepare", params, cli_command(ctx, *args))


def suggest_folder_name(ctx: StudioContext, folder: str) -> str:
    """A free corpus name from the folder's last part (typing a path fills in the name)."""
    label = Path((folder or "").strip().rstrip("/\\")).name
    return free_output_name(ctx, safe_name(label) if label else "corpus", "prepare")


# ---- listing and polling --------------------------------------------------------------------------


def corpora_table(ctx: StudioContext) -> pd.DataFrame:
    """One row per corpus: name, kind, words and documents (train split), created."""
    rows = []
    for row in list_corpora(ctx.workspace):
        try:
            docs = read_manifest(ctx.workspace.corpus_dir(row["name"]))["splits"]["train"]["documents"]
        except (UserError, KeyError, TypeError):
            docs = None
        rows.append([row["name"], row["kind"], row["words"], docs, row["created"]])
    return pd.DataFrame(rows, columns=CORPUS_COLUMNS)


def refresh_lists(ctx: StudioContext, select: str | None = None) -> tuple:
    """(corpora table, corpus dropdown with fresh choices; `select` chosen if given)."""
    names = ctx.workspace.corpora()
    return corpora_table(ctx), gr.Dropdown(choices=names, value=select) if select in names else corpus_choices(ctx)


def poll_job(ctx: StudioContext, job: str, c: DataComponents) -> dict:
    """Timer tick -> the job block, and the corpora table and corpus dropdown when they change.

    With no job (page load) it re-attaches to a running `prepare` job, else refreshes the lists;
    when the job ends it refreshes the lists, selects the new corpus and stops.
    """
    return job_panel.poll(ctx, c.panel, "prepare", job, lambda made: dict(zip((c.corpora, c.corpus), refresh_lists(ctx, made))))


def pick_corpus(evt: gr.SelectData) -> str:
    """A click on a row of the corpora table selects that corpus."""
    return evt.row_value[0] if evt.row_value else gr.skip()


# ---- the tab --------------------------------------------------------------------------------------


def build(ctx: StudioContext) -> DataComponents:
    """The Data tab's components, with every event wired (call inside `with gr.Tab(...)`)."""
    c = DataComponents(**_build_controls(ctx), **_build_outputs(ctx))
    job_outputs = c.panel.outputs
    c.syn_start.click(
        partial(start_synthetic, ctx, c=c),
        [c.syn_name, c.syn_words, c.syn_complexity, c.syn_seed],
        job_outputs + [c.syn_name],
        api_name="make_corpus",
    )
    c.folder.input(
        partial(suggest_folder_name, ctx),
        c.folder,
        c.folder_name,
        show_progress="hidden",
        trigger_mode="always_last",  # typing fast: the last keystroke wins, never a stale one
        api_visibility="private",
    )
    c.folder_start.click(
        partial(start_folder, ctx, c=c),
        [c.folder, c.folder_name, c.babylm, c.budget, c.clean_domains],
        job_outputs + [c.folder_name],
        api_name="import_corpus",
    )
    c.upload_start.click(
        partial(start_upload, ctx, c=c),
        [c.files, c.upload_name, c.clean_domains],
        job_outputs + [c.upload_name],
        api_name="upload_corpus",
    )
    c.panel.timer.tick(
        partial(poll_job, ctx, c=c),
        c.panel.job,
        job_outputs + [c.corpora, c.corpus],
        show_progress="hidden",
        api_name="corpus_job",
    )
    c.refresh.click(partial(refresh_lists, ctx), None, [c.corpora, c.corpus], api_name="list_corpora")
    c.corpus.focus(partial(corpus_choices, ctx), None, c.corpus, show_progress="hidden", api_visibility="private")
    c.corpora.select(pick_corpus, None, c.corpus, api_visibility="private")
    preview = [c.preview, c.page, c.page_info]
    c.corpus.change(
        partial(corpus_details, ctx, c=c), c.corpus, [c.summary, c.splits, c.file_table, c.histogram], api_name="corpus_details"
    )
    c.corpus.change(partial(preview_page, ctx, page=1), [c.corpus, c.preview_split], preview, api_visibility="private")
    c.preview_split.change(partial(preview_page, ctx, page=1), [c.corpus, c.preview_split], preview, api_visibility="private")
    c.page.submit(partial(preview_page, ctx), [c.corpus, c.preview_split, c.page], preview, api_name="corpus_preview")
    for button, delta in ((c.prev, -1), (c.next, 1)):
        button.click(
            partial(preview_page, ctx, delta=delta), [c.corpus, c.preview_split, c.page], preview, api_visibility="private"
        )
    return c


def wire_load(demo: gr.Blocks, ctx: StudioContext, c: DataComponents, tab: gr.Tab | None = None) -> None:
    """On page load and on opening the tab: re-attach to a running `prepare` job, else refresh the lists."""
    refresh_on_open(demo, tab, partial(poll_job, ctx, "", c=c), None, [*c.panel.outputs, c.corpora, c.corpus])


def _build_controls(ctx: StudioContext) -> dict:
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            with gr.Tabs():
                with gr.Tab("Synthetic"):
                    with gr.Row():
                        syn_name = refilled(
                            gr.Textbox,
                            partial(free_output_name, ctx, "syn", "prepare"),
                            label="Corpus name",
                            elem_id="data-syn-name",
                        )
                        syn_words = gr.Number(
                            1_000_000,
                            label="Size (words)",
                            precision=0,
                            minimum=1,
                            maximum=MAX_SYNTH_WORDS,
                            elem_id="data-syn-words",
                        )
                        syn_seed = gr.Number(42, label="Seed", precision=0, minimum=0, maximum=MAX_SEED, elem_id="data-syn-seed")
                    syn_complexity = gr.Radio(
                        list(COMPLEXITIES),
                        value="simple",
                        label="Complexity",
                        info="simple: short SVO sentences; medium: questions, dialogue; complex: clauses, past and future",
                        elem_id="data-syn-complexity",
                    )
                    syn_start = gr.Button("Make synthetic corpus", variant="primary", elem_id="data-syn-start")
                with gr.Tab("Folder"):
                    with gr.Row():
                        folder = gr.Textbox(
                            label="Folder",
                            placeholder="/path/to/babylm_10M or your own text",
                            info="a folder on this machine: BabyLM (2023/2024 auto-detected), .txt, .jsonl or .parquet",
                            scale=2,
                            elem_id="data-folder",
                        )
                        folder_name = refilled(
                            gr.Textbox,
                            partial(free_output_name, ctx, "corpus", "prepare"),
                            label="Corpus name",
                            elem_id="data-folder-name",
                        )
                    with gr.Row():
                        babylm = gr.Radio(list(VERSIONS), value="auto", label="BabyLM version", elem_id="data-babylm")
                        budget = gr.Textbox(label="Word budget", placeholder="e.g. 10M (empty: keep all)", elem_id="data-budget")
                    folder_start = gr.Button("Prepare folder", variant="primary", elem_id="data-folder-start")
                with gr.Tab("Upload"):
                    files = gr.File(
                        file_count="multiple",
                        file_types=list(UPLOAD_SUFFIXES),
                        label="Files (.txt, .jsonl, .parquet)",
                        elem_id="data-files",
                    )
                    upload_name = refilled(
                        gr.Textbox,
                        partial(free_output_name, ctx, "upload", "prepare"),
                        label="Corpus name",
                        elem_id="data-upload-name",
                    )
                    upload_start = gr.Button("Prepare uploaded files", variant="primary", elem_id="data-upload-start")
            with gr.Accordion("Cleaning (folder and upload)", open=False):
                clean_domains = gr.CheckboxGroup(
                    cleaner_names(),
                    label="Clean domains",
                    info="cleaners to run; whitespace is always normalised",
                    elem_id="data-clean",
                )
        with gr.Column(scale=2):
            panel = job_panel.job_panel("data", "No job started yet.")
    return dict(
        syn_name=syn_name,
        syn_words=syn_words,
        syn_complexity=syn_complexity,
        syn_seed=syn_seed,
        syn_start=syn_start,
        folder=folder,
        folder_name=folder_name,
        babylm=babylm,
        budget=budget,
        clean_domains=clean_domains,
        folder_start=folder_start,
        files=files,
        upload_name=upload_name,
        upload_start=upload_start,
        panel=panel,
    )


def _build_outputs(ctx: StudioContext) -> dict:
    with gr.Row():
        corpora = refilled(
            gr.Dataframe,
            partial(corpora_table, ctx),
            headers=CORPUS_COLUMNS,
            interactive=False,
            label="Corpora (words and documents of the train split; click a row)",
            max_height=260,
            elem_id="data-corpora",
        )
    with gr.Row():
        corpus = gr.Dropdown(
            ctx.workspace.corpora(), value=None, allow_custom_value=True, label="Corpus", scale=3, elem_id="data-corpus"
        )
        refresh = gr.Button("Refresh", size="sm", scale=1, elem_id="data-refresh")
    summary = gr.Markdown(elem_id="data-summary")
    with gr.Row(equal_height=False):
        with gr.Column():
            splits = gr.Dataframe(headers=SPLIT_COLUMNS, interactive=False, label="Splits", elem_id="data-splits")
            file_table = gr.Dataframe(
                headers=FILE_COLUMNS, interactive=False, label="Files", max_height=240, elem_id="data-files-table"
            )
        histogram = gr.Plot(line_length_figure(None), label="Line lengths", elem_id="data-histogram")
    with gr.Row():
        preview_split = gr.Radio(["train", "dev"], value="train", label="Preview split", elem_id="data-preview-split")
        page = gr.Number(1, label="Page", precision=0, minimum=1, elem_id="data-page")
        prev = gr.Button("◀ Prev", size="sm", elem_id="data-prev")
        next_ = gr.Button("Next ▶", size="sm", elem_id="data-next")
    page_info = gr.Markdown(elem_id="data-page-info")
    preview = gr.Textbox(label="Text", lines=20, max_lines=40, interactive=False, elem_id="data-preview")
    return dict(
        corpora=corpora,
        refresh=refresh,
        corpus=corpus,
        summary=summary,
        splits=splits,
        file_table=file_table,
        histogram=histogram,
        preview_split=preview_split,
        page=page,
        prev=prev,
        next=next_,
        page_info=page_info,
        preview=preview,
    )
