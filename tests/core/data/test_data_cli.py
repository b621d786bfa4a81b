"""`babyllama data ...` through core.cli.main: exit codes, messages, output."""
from __future__ import annotations

import json

import pytest

from core.cli import main


def test_synth_then_list_and_stats(workspace, capsys):
    assert main(["data", "synth", "--name", "kid", "--tokens", "5k", "--complexity", "medium", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "corpus 'kid' (synthetic)" in out and "train" in out
    manifest = json.loads((workspace.corpus_dir("kid") / "manifest.json").read_text())
    assert manifest["seed"] == 3 and manifest["requested_words"] == 5000

    assert main(["data", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["name"] == "kid" and rows[0]["words"] == manifest["splits"]["train"]["words"]
    assert main(["data", "list"]) == 0
    assert "kid" in capsys.readouterr().out

    assert main(["data", "stats", "kid", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["splits"]["train"]["words"] == manifest["splits"]["train"]["words"]
    assert main(["data", "stats", "kid"]) == 0
    table = capsys.readouterr().out
    assert "train/synthetic.txt" in table and "words per line" in table


def test_guide_spellings_are_accepted(workspace, capsys):
    assert main(["data", "synth", "--num-tokens", "2000", "--output-dir", "./data/synthetic"]) == 0
    assert workspace.corpus_dir("synthetic").is_dir()


def test_workspace_flag(tmp_path, capsys):
    assert main(["data", "synth", "--name", "w", "--tokens", "300", "--workspace", str(tmp_path / "other")]) == 0
    assert (tmp_path / "other" / "data" / "w" / "manifest.json").is_file()


def test_prepare_custom_prints_replacement_warning(workspace, tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes("Grüße aus Köln.\n\nNoch ein Satz.\n".encode("latin-1"))
    assert main(["data", "prepare", "--source", str(src), "--name", "mine", "--budget-words", "500k"]) == 0
    captured = capsys.readouterr()
    assert "corpus 'mine' (custom)" in captured.out
    assert "warning:" in captured.err and "3 byte(s)" in captured.err


@pytest.mark.parametrize("argv, message", [
    (["data", "synth", "--name", "x", "--tokens", "lots"], "--tokens"),
    (["data", "synth", "--tokens", "100"], "--name"),
    (["data", "synth", "--name", "bad name!", "--tokens", "100"], "not a valid name"),
    (["data", "prepare", "--source", "/no/such/dir", "--name", "x"], "does not exist"),
    (["data", "prepare", "--name", "x"], "--source"),
    (["data", "stats", "ghost"], "no corpus named 'ghost'"),
])
def test_bad_input_exits_2_with_message(workspace, capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not list(workspace.data_dir.iterdir())


def test_prepare_bad_budget_and_taken_name(workspace, tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("Some text here.\n")
    assert main(["data", "prepare", "--source", str(src), "--name", "c", "--budget-words", "10X"]) == 2
    assert "--budget-words" in capsys.readouterr().err
    assert main(["data", "synth", "--name", "c", "--tokens", "300"]) == 0
    before = (workspace.corpus_dir("c") / "manifest.json").read_bytes()
    assert main(["data", "prepare", "--source", str(src), "--name", "c"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (workspace.corpus_dir("c") / "manifest.json").read_bytes() == before
    assert main(["data", "prepare", "--source", str(src), "--name", "d", "--clean-domains", "nope"]) == 2
    assert "unknown cleaning domain 'nope'" in capsys.readouterr().err


def test_every_data_verb_has_help(capsys):
    for verb in ("synth", "prepare", "stats", "list"):
        with pytest.raises(SystemExit) as exit_:
            main(["data", verb, "--help"])
        assert exit_.value.code == 0
        assert "--workspace" in capsys.readouterr().out
