"""Synthetic generator: determinism, size, complexity growth, the corpus it writes."""

from __future__ import annotations

import json

import pytest

from core.data.synthetic import COMPLEXITIES, create_synthetic_corpus, generate_documents, synthesize
from core.errors import UserError


def test_same_seed_same_bytes_and_different_seed_differs():
    first = synthesize(20_000, "medium", seed=7)
    again = synthesize(20_000, "medium", seed=7)
    other = synthesize(20_000, "medium", seed=8)
    assert first == again
    assert first["train"] != other["train"]


def test_global_random_is_not_used():
    import random

    random.seed(1)
    a = synthesize(5_000, "simple", seed=3)
    random.seed(2)
    assert synthesize(5_000, "simple", seed=3) == a


@pytest.mark.parametrize("target", [1, 137, 50_000])
def test_size_is_the_target_plus_less_than_one_sentence(target):
    docs = list(generate_documents(target, "complex", seed=1))
    words = sum(len(d.split()) for d in docs)
    longest_sentence = max(len(line.split()) for d in docs for line in d.split("\n"))
    assert target <= words < target + longest_sentence + 1


def test_dev_fraction_is_respected():
    out = synthesize(50_000, "simple", seed=5, dev_fraction=0.2)
    dev, train = len(out["dev"].split()), len(out["train"].split())
    assert 0.18 < dev / (dev + train) < 0.22
    assert synthesize(2_000, "simple", seed=5, dev_fraction=0)["dev"] == ""


def test_vocabulary_and_sentence_length_grow_with_complexity():
    vocab, lengths = [], []
    for level in COMPLEXITIES:
        words = synthesize(30_000, level, seed=11)["train"].split()
        lines = [line for line in synthesize(30_000, level, seed=11)["train"].split("\n") if line]
        vocab.append(len({w.strip('.,!?"').lower() for w in words}))
        lengths.append(len(words) / len(lines))
    assert vocab[0] < vocab[1] < vocab[2]
    assert vocab[0] < 150 and vocab[2] > 2 * vocab[0]
    assert lengths[0] < lengths[2]


def test_sentences_look_like_child_directed_english():
    simple = synthesize(5_000, "simple", seed=2)["train"]
    medium = synthesize(20_000, "medium", seed=2)["train"]
    complex_ = synthesize(20_000, "complex", seed=2)["train"]
    for line in (text for text in simple.split("\n") if text):
        assert line[0].isupper() and line[-1] in ".!?"
    assert "?" in medium and '" said ' in medium
    assert " that " in complex_ and "because" in complex_ and "Tomorrow we will" in complex_
    assert "\n\n" in simple  # documents separated by blank lines


def test_bad_complexity_and_dev_fraction_are_user_errors():
    with pytest.raises(UserError, match="--complexity"):
        list(generate_documents(10, "hard"))
    with pytest.raises(UserError, match="--dev-fraction"):
        synthesize(10, "simple", dev_fraction=0.7)


def test_corpus_on_disk_has_manifest_and_is_reproducible(workspace):
    path = create_synthetic_corpus(workspace, "s1", 3_000, "medium", seed=9)
    again = create_synthetic_corpus(workspace, "s2", 3_000, "medium", seed=9)
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["kind"] == "synthetic" and manifest["seed"] == 9
    assert manifest["complexity"] == "medium"
    assert (path / "train" / "synthetic.txt").is_file() and (path / "dev" / "synthetic.txt").is_file()
    total = manifest["splits"]["train"]["words"] + manifest["splits"]["dev"]["words"]
    assert 3_000 <= total < 3_050
    assert manifest["sha256"] == json.loads((again / "manifest.json").read_text())["sha256"]
    assert {f["file"] for f in manifest["files"]} == {"train/synthetic.txt", "dev/synthetic.txt"}
    assert not [p for p in workspace.data_dir.iterdir() if p.name.startswith(".")]
