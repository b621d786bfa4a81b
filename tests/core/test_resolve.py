"""core.resolve: a data.train_path the worker could not train on is a config issue, found before
anything is written (before: the worker refused it with a traceback after the run existed)."""
from __future__ import annotations

import pytest

from core import config
from core.data.corpus import MANIFEST
from core.errors import ConfigError
from core.resolve import MANIFEST as RESOLVE_MANIFEST, data_checker, resolve_data


def _load(ws, train_path):
    return config.load(overrides=[f"data.train_path={train_path}"], checks=[data_checker(ws, require=False)])


def test_manifest_marker_matches_the_corpus_writer():
    assert RESOLVE_MANIFEST == MANIFEST


@pytest.mark.parametrize("kind, expected", [
    ("empty", "is an empty folder"),
    ("file", "is a file, not a corpus"),
    ("latin1", "is not UTF-8 text"),
    ("raw", "is a folder of text, not a prepared corpus"),
])
def test_unusable_train_path_is_a_config_issue(workspace, tmp_path, kind, expected):
    target = tmp_path / kind
    if kind == "file":
        target.write_text("some text\n")
    else:
        target.mkdir()
        if kind == "latin1":
            (target / "a.txt").write_bytes("caf\xe9 cr\xe8me\n".encode("latin-1"))
        elif kind == "raw":
            (target / "a.txt").write_text("plain text\n")
    with pytest.raises(ConfigError) as err:
        _load(workspace, target)
    text = str(err.value)
    assert "data.train_path" in text and expected in text
    if kind != "empty":
        assert "babyllama data prepare" in text


def test_prepared_corpus_and_its_split_folder_resolve(ready_workspace):
    corpus = ready_workspace.corpus_dir("syn")
    for value in ("syn", str(corpus), str(corpus / "train")):
        paths = resolve_data(_load(ready_workspace, value), ready_workspace, require=False)
        assert paths.train == corpus / "train" and paths.corpus == corpus


def test_prepared_corpus_with_an_empty_train_split(workspace):
    corpus = workspace.data_dir / "hollow"
    (corpus / "train").mkdir(parents=True)
    (corpus / MANIFEST).write_text("{}")
    with pytest.raises(ConfigError, match="train/ split of corpus 'hollow' is empty"):
        _load(workspace, "hollow")
