"""The Data tab's look inside one corpus: its counts per split and per file, its line lengths as a
figure, and a paged preview of its text. Plain handlers over core.data; must not import the tab
builder (studio.tabs.data imports this) nor hold state between calls.
"""

from __future__ import annotations

import math
from itertools import islice
from pathlib import Path
from typing import Iterator

import pandas as pd
import plotly.graph_objects as go

from core.data import corpus_stats
from core.errors import UserError
from studio.context import StudioContext
from studio.plots import PALETTE

PAGE_LINES = 40
SPLIT_COLUMNS = ["split", "words", "chars", "lines", "documents", "files"]
FILE_COLUMNS = ["file", "words", "chars", "lines", "documents"]


def line_length_figure(hist: dict | None) -> go.Figure:
    """Grouped bars: how many lines have 1, 2, 3-4, ... words, one colour per split."""
    fig = go.Figure()
    for i, (split, counts) in enumerate((hist or {}).get("counts", {}).items()):
        fig.add_trace(go.Bar(x=hist["labels"], y=counts, name=split, marker_color=PALETTE[i % len(PALETTE)]))
    fig.update_xaxes(title_text=(hist or {}).get("unit", "words per line"), type="category")
    fig.update_yaxes(title_text="lines")
    fig.update_layout(
        barmode="group",
        height=320,
        template="plotly_white",
        margin=dict(l=50, r=20, t=40, b=40),
        title=dict(text="line lengths" if hist else "select a corpus", x=0.02, font=dict(size=14)),
        legend=dict(orientation="h", y=1.1, x=1, xanchor="right"),
    )
    return fig


def corpus_details(ctx: StudioContext, name: str | None, c) -> dict:
    """Corpus `name`'s summary, per-split table, per-file table and line-length figure, keyed by the
    Data tab's components `c` (a DataComponents)."""
    answer = {
        c.summary: "Select a corpus in the table or the list to see its counts and text.",
        c.splits: pd.DataFrame(columns=SPLIT_COLUMNS),
        c.file_table: pd.DataFrame(columns=FILE_COLUMNS),
        c.histogram: line_length_figure(None),
    }
    if not name:
        return answer
    try:
        stats = corpus_stats(ctx.workspace.corpus_dir(name))
    except UserError as err:
        return {**answer, c.summary: f"⚠️ {err}"}
    summary = f"**{stats['name']}** · {stats['kind']} · created {stats['created']}\n\nsource: `{stats['source']}`"
    if stats["replaced_bytes"]:
        summary += f"\n\n⚠️ {stats['replaced_bytes']:,} byte(s) of the source were not valid UTF-8"
    return {
        c.summary: summary,
        c.splits: pd.DataFrame(
            [[s, n["words"], n["chars"], n["lines"], n["documents"], n["files"]] for s, n in stats["splits"].items()],
            columns=SPLIT_COLUMNS,
        ),
        c.file_table: pd.DataFrame(
            [[f["file"], f["words"], f["chars"], f["lines"], f["documents"]] for f in stats["files"]], columns=FILE_COLUMNS
        ),
        c.histogram: line_length_figure(stats["line_lengths"]),
    }


def _count_lines(path: Path) -> int:
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            count, last = count + chunk.count(b"\n"), chunk[-1:]
    return count + (last != b"\n")


def _lines(files: list[Path]) -> Iterator[str]:
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as handle:
            yield from (line.rstrip("\n") for line in handle)


def preview_page(ctx: StudioContext, name: str | None, split: str, page, delta: int = 0) -> tuple:
    """(text, page number, page info) of page `page + delta` (PAGE_LINES lines) of a split's files."""
    if not name:
        return "", 1, "Select a corpus to preview its text."
    try:
        folder = ctx.workspace.corpus_dir(name) / split
    except UserError as err:
        return "", 1, f"⚠️ {err}"
    files = sorted(folder.glob("*.txt"))
    total = sum(_count_lines(f) for f in files)
    if not total:
        return "", 1, f"The {split} split of {name!r} is empty."
    pages = math.ceil(total / PAGE_LINES)
    page = min(max(1, int(page or 1) + delta), pages)
    start = (page - 1) * PAGE_LINES
    lines = list(islice(_lines(files), start, start + PAGE_LINES))
    info = f"page {page:,} of {pages:,} · lines {start + 1:,}-{start + len(lines):,} of {total:,} ({split})"
    return "\n".join(lines), page, info
