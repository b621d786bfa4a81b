"""core.data.textfolder: a folder of text is prepared once per content hash into a workspace corpus."""

from __future__ import annotations

import pytest

from core.data import textfolder
from core.data.corpus import read_manifest
from core.errors import UserError


def _folder(tmp_path, text="the cat sat on the mat.\n"):
    folder = tmp_path / "babylm_10M_clean"
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "a.train").write_text(text * 50)
    (folder / "sub" / "b.train").write_text("a dog ran home.\n" * 50)
    (folder / ".hidden.train").write_text("unfinished write\n")
    return folder


def test_prepared_once_then_reused_by_content(workspace, tmp_path):
    folder = _folder(tmp_path)
    corpus = textfolder.prepare(folder, workspace)
    manifest = read_manifest(corpus)
    assert corpus.name.startswith("babylm_10M_clean-") and manifest["kind"] == "folder"
    assert sorted(f["file"] for f in manifest["files"]) == ["train/a.train.txt", "train/sub__b.train.txt"]
    assert textfolder.prepare(folder, workspace) == corpus and workspace.corpora() == [corpus.name]
    (folder / "a.train").write_text("new text here.\n" * 50)  # other content: another corpus
    other = textfolder.prepare(folder, workspace)
    assert other != corpus and len(workspace.corpora()) == 2


def test_undecodable_bytes_and_empty_folders_are_refused(workspace, tmp_path):
    folder = _folder(tmp_path)
    (folder / "c.train").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"data.train_path: .*c.train is not UTF-8 text"):
        textfolder.prepare(folder, workspace)
    assert workspace.corpora() == []
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="data.eval_path: .* has no text files"):
        textfolder.prepare(empty, workspace, "data.eval_path")
