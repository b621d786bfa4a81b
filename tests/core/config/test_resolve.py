"""core.config.resolve: a data.train_path the worker could not train on is a config issue, found before
anything is written (before: the worker refused it with a traceback after the run existed)."""

from __future__ import annotations

import shutil

import pytest

from core import config
from core.config.resolve import MANIFEST as RESOLVE_MANIFEST
from core.config.resolve import data_checker, resolve_data
from core.data.corpus import MANIFEST
from core.errors import ConfigError


def _load(ws, train_path):
    return config.load(overrides=[f"data.train_path={train_path}"], checks=[data_checker(ws, require=False)])


def test_manifest_marker_matches_the_corpus_writer():
    assert RESOLVE_MANIFEST == MANIFEST


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("empty", "has no text files"),
        ("file", "is a file, not a corpus"),
        ("latin1", "is not UTF-8 text"),
        ("binary", "has no text files (only: model.bin)"),
    ],
)
def test_unusable_train_path_is_a_config_issue(workspace, tmp_path, kind, expected):
    target = tmp_path / kind
    if kind == "file":
        target.write_text("some text\n")
    else:
        target.mkdir()
        if kind == "latin1":
            (target / "a.txt").write_bytes("caf\xe9 cr\xe8me\n".encode("latin-1"))
        elif kind == "binary":
            (target / "model.bin").write_bytes(b"\x00\x01")
    with pytest.raises(ConfigError) as err:
        _load(workspace, target)
    text = str(err.value)
    assert "data.train_path" in text and expected in text
    if kind in ("file", "latin1"):
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


def test_folder_of_text_resolves_with_a_note(workspace, tmp_path):
    """The guide's `train_path: ./data/babylm_10M_clean` (a folder of .train files) and its dev folder."""
    train, dev = tmp_path / "babylm_10M_clean", tmp_path / "babylm_dev_clean"
    train.mkdir()
    dev.mkdir()
    (train / "a.train").write_text("the cat sat.\n" * 1000)
    (train / "b.train").write_text("a dog ran.\n" * 1000)
    (dev / "a.dev").write_text("the dog sat.\n")
    cfg = config.load(
        overrides=[f"data.train_path={train}", f"data.eval_path={dev}"], checks=[data_checker(workspace, require=False)]
    )
    paths = resolve_data(cfg, workspace, require=False)
    assert paths.train == train and paths.corpus is None and paths.eval == dev
    assert paths.notes[0].startswith("data.train_path: a folder of 2 text files (0.0 MB): will be prepared")
    assert paths.notes[1].startswith("data.eval_path: a folder of 1 text file (")


def test_eval_path_naming_a_corpus_without_dev_is_an_issue(ready_workspace):
    corpus = ready_workspace.corpus_dir("syn")
    shutil.rmtree(corpus / "dev")
    with pytest.raises(ConfigError, match="data.eval_path: corpus 'syn' has no dev/ split"):
        config.load(
            overrides=["data.train_path=syn", "data.eval_path=syn"], checks=[data_checker(ready_workspace, require=False)]
        )
