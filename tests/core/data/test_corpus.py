"""core.data.corpus: text counts and decoding, a taken name refused, stats and listing."""

from __future__ import annotations

import json

import pytest

from core.data.babylm import prepare_corpus
from core.data.corpus import corpus_stats, decode_text, list_corpora, text_stats
from core.data.synthetic import create_synthetic_corpus
from core.errors import UserError


def manifest_of(path):
    return json.loads((path / "manifest.json").read_text())


def test_text_stats_counts():
    stats = text_stats("one two\nthree\n\n\nfour five six\n")
    assert stats == {"words": 6, "chars": 30, "lines": 3, "documents": 2}


def test_decode_counts_replaced_bytes():
    text, replaced = decode_text("café ".encode("latin-1") + "naïve".encode("utf-8"))
    assert replaced == 1 and text == "caf\ufffd naïve"
    assert decode_text("\ufeffhi".encode("utf-8")) == ("hi", 0)


def test_taken_name_is_a_user_error_and_existing_corpus_untouched(tmp_path, workspace):
    path = create_synthetic_corpus(workspace, "taken", 500)
    snapshot = {p: p.read_bytes() for p in path.rglob("*") if p.is_file()}
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("hello there\n")
    with pytest.raises(UserError, match="already exists"):
        prepare_corpus(workspace, src, "taken")
    assert {p: p.read_bytes() for p in path.rglob("*") if p.is_file()} == snapshot


def test_stats_and_list(tmp_path, workspace):
    path = create_synthetic_corpus(workspace, "stats-me", 2_000, seed=1)
    stats = corpus_stats(path)
    m = manifest_of(path)
    assert stats["splits"]["train"] == m["splits"]["train"]
    hist = stats["line_lengths"]
    assert len(hist["labels"]) == len(hist["counts"]["train"]) == len(hist["edges"])
    assert sum(hist["counts"]["train"]) == m["splits"]["train"]["lines"]
    assert hist["labels"][:4] == ["1", "2", "3-4", "5-8"] and hist["labels"][-1] == "257+"
    assert [f["file"] for f in stats["files"]] == ["train/synthetic.txt", "dev/synthetic.txt"]
    rows = list_corpora(workspace)
    assert [(r["name"], r["kind"], r["words"]) for r in rows] == [("stats-me", "synthetic", m["splits"]["train"]["words"])]
    assert rows[0]["created"] == m["created"]
