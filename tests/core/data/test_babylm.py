"""BabyLM folders: 2023 and 2024 names, auto-detection, domain cleaning, word budget."""

from __future__ import annotations

import json

import pytest

from core.data.babylm import NAMES, detect_version, find_babylm_files, prepare_corpus
from core.data.corpus import parse_word_count
from core.errors import UserError

LINE = "the child saw a dog today .\n"  # 7 words


def make_babylm(root, version: str, lines: int = 40):
    """babylm_10M/<name>.train and babylm_dev/<name>.dev, as the official zips unpack."""
    for stem in NAMES[version]:
        body = LINE * lines
        if stem == "wikipedia":
            body = "= = = Dogs = = =\n" + body
        (root / "babylm_10M").mkdir(parents=True, exist_ok=True)
        (root / "babylm_dev").mkdir(parents=True, exist_ok=True)
        (root / "babylm_10M" / f"{stem}.train").write_text(body)
        (root / "babylm_dev" / f"{stem}.dev").write_text(LINE * 3)
    (root / "babylm_10M" / "README.md").write_text("not data")
    return root


@pytest.mark.parametrize("version", ["2023", "2024"])
def test_auto_detects_version_and_writes_every_file(tmp_path, workspace, version):
    source = make_babylm(tmp_path / "src", version)
    chosen, files = find_babylm_files([source])
    assert chosen == version
    assert sorted(files["train"]) == sorted(NAMES[version]) == sorted(files["dev"])
    path = prepare_corpus(workspace, source, "b")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["kind"] == "babylm" and manifest["babylm_version"] == version
    assert sorted(p.stem for p in (path / "train").iterdir()) == sorted(NAMES[version])
    assert manifest["splits"]["dev"]["files"] == len(NAMES[version])
    assert manifest["splits"]["dev"]["words"] == 21 * len(NAMES[version])


def test_detect_version_by_names():
    assert detect_version({"aochildes", "bnc_spoken"}) == "2023"
    assert detect_version({"qed"}) == "2023"
    assert detect_version({"childes", "gutenberg"}) == "2024"
    assert detect_version({"simple_wiki"}) == "2024"
    assert detect_version(set()) is None
    with pytest.raises(UserError, match="--babylm 2023 or --babylm 2024"):
        detect_version({"cbt", "childes"})


def test_explicit_version_that_does_not_match_is_a_user_error(tmp_path):
    source = make_babylm(tmp_path / "src", "2024")
    with pytest.raises(UserError, match="--babylm 2023: childes, simple_wiki belong to the other"):
        find_babylm_files([source], "2023")
    assert find_babylm_files([source], "2024")[0] == "2024"
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "story.txt").write_text("hello\n")
    with pytest.raises(UserError, match="no BabyLM 2024 training files"):
        find_babylm_files([tmp_path / "plain"], "2024")
    assert find_babylm_files([tmp_path / "plain"]) == (None, {})


def test_same_file_twice_is_a_user_error(tmp_path):
    source = make_babylm(tmp_path / "src", "2024")
    (source / "babylm_100M").mkdir()
    (source / "babylm_100M" / "childes.train").write_text(LINE)
    with pytest.raises(UserError, match="childes.train found twice"):
        find_babylm_files([source])


def test_two_sources_like_the_guide(tmp_path, workspace):
    source = make_babylm(tmp_path / "src", "2023")
    path = prepare_corpus(workspace, [source / "babylm_10M", source / "babylm_dev"], "two")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["splits"]["dev"]["files"] == 10 and manifest["splits"]["train"]["files"] == 10


def test_budget_cuts_train_proportionally_at_line_boundaries(tmp_path, workspace):
    source = make_babylm(tmp_path / "src", "2023", lines=40)
    (source / "babylm_10M" / "qed.train").write_text(LINE * 400)  # a bigger file keeps a bigger share
    path = prepare_corpus(workspace, source, "cut", budget_words="1k")
    manifest = json.loads((path / "manifest.json").read_text())
    train = manifest["splits"]["train"]["words"]
    assert 1000 - 7 * 10 <= train <= 1000
    assert manifest["budget_words"] == 1000 and manifest["train_words_before_budget"] > 5000
    words = {f["file"]: f["words"] for f in manifest["files"]}
    assert words["train/qed.txt"] > 4 * words["train/cbt.txt"]
    for text_file in (path / "train").iterdir():
        assert all(line == LINE.strip() for line in text_file.read_text().splitlines()[1:])
    assert manifest["splits"]["dev"]["words"] == 21 * 10  # dev is never cut


@pytest.mark.parametrize(
    "text, expected",
    [("10M", 10_000_000), ("500k", 500_000), ("1000000", 1_000_000), ("1.5M", 1_500_000), ("2,000", 2000), (250, 250)],
)
def test_parse_word_count(text, expected):
    assert parse_word_count(text) == expected


@pytest.mark.parametrize("text", ["ten", "0", "-5", "10Q", ""])
def test_bad_budget_names_the_flag(text):
    with pytest.raises(UserError, match="--budget-words"):
        parse_word_count(text)


def test_clean_domains_choose_which_files_are_cleaned(tmp_path, workspace):
    source = make_babylm(tmp_path / "src", "2023")
    plain = prepare_corpus(workspace, source, "plain")
    assert "= = = Dogs = = =" in (plain / "train" / "wikipedia.txt").read_text()
    cleaned = prepare_corpus(workspace, source, "clean", clean_domains="wikipedia,dialogue")
    assert (cleaned / "train" / "wikipedia.txt").read_text().startswith("Dogs\nthe child saw a dog today.")
    files = {f["file"]: f for f in json.loads((cleaned / "manifest.json").read_text())["files"]}
    assert files["train/switchboard.txt"]["cleaner"] == "dialogue"  # chosen by its domain
    assert files["train/simple_wikipedia.txt"]["cleaner"] == "wikipedia"
    by_file = json.loads((prepare_corpus(workspace, source, "one", clean_domains=["qed"]) / "manifest.json").read_text())
    assert [f["file"] for f in by_file["files"] if f["cleaner"] != "default"] == ["dev/qed.txt", "train/qed.txt"]
    assert files["train/qed.txt"]["cleaner"] == "default" and files["train/qed.txt"]["domain"] == "qed"
    every = json.loads((prepare_corpus(workspace, source, "all", clean_domains="all") / "manifest.json").read_text())
    assert all(f["cleaner"] != "default" for f in every["files"])
    with pytest.raises(UserError, match="unknown cleaning domain 'wikipedya'"):
        prepare_corpus(workspace, source, "bad", clean_domains="wikipedya")
