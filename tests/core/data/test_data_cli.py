"""`babyllama data ...` through core.cli.main: exit codes, messages, output."""

from __future__ import annotations

import json

import pytest

from core.cli import main


def test_synth_then_list_and_stats(workspace, capsys):
    assert main(["data", "synth", "--name", "kid", "--words", "5k", "--complexity", "medium", "--seed", "3"]) == 0
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


@pytest.mark.parametrize(
    "argv, message",
    [
        (["data", "synth", "--name", "x", "--words", "lots"], "--words"),
        (["data", "synth", "--name", "x", "--tokens", "lots"], "--words"),  # the old name errs as the new one
        (["data", "synth", "--words", "100"], "--name"),
        (["data", "synth", "--name", "bad name!", "--words", "100"], "not a valid name"),
        (["data", "prepare", "--source", "/no/such/dir", "--name", "x"], "does not exist"),
        (["data", "prepare", "--name", "x"], "--source"),
        (["data", "stats", "ghost"], "no corpus named 'ghost'"),
    ],
)
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


@pytest.mark.parametrize(
    "files, message",
    [
        ({}, "it is empty"),
        ({"blob.txt": b"\x89PNG\x00\x00"}, "binary file"),
        ({"d.jsonl": b'{"text": "fine"}\n\n{oops}\n'}, "d.jsonl, line 3: not valid JSON"),
    ],
)
def test_bad_custom_sources_exit_2_and_keep_existing_corpora(workspace, tmp_path, capsys, files, message):
    assert main(["data", "synth", "--name", "keep", "--tokens", "300"]) == 0
    keep = workspace.corpus_dir("keep")
    snapshot = {p: p.read_bytes() for p in keep.rglob("*") if p.is_file()}
    src = tmp_path / "src"
    src.mkdir()
    for name, data in files.items():
        (src / name).write_bytes(data)
    assert main(["data", "prepare", "--source", str(src), "--name", "new"]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.name for p in workspace.data_dir.iterdir()) == ["keep"]
    assert {p: p.read_bytes() for p in keep.rglob("*") if p.is_file()} == snapshot


def test_prepare_babylm_2024_with_budget_and_cleaning(workspace, tmp_path, capsys):
    root = tmp_path / "babylm"
    (root / "train_10M").mkdir(parents=True)
    (root / "dev").mkdir()
    for stem in ("childes", "bnc_spoken", "gutenberg", "open_subtitles", "simple_wiki", "switchboard"):
        (root / "train_10M" / f"{stem}.train").write_text("*CHI:\tmore juice please .\n" * 200)
        (root / "dev" / f"{stem}.dev").write_text("*MOT:\there you go .\n" * 5)
    argv = [
        "data",
        "prepare",
        "--source",
        str(root),
        "--name",
        "b24",
        "--babylm",
        "2024",
        "--budget-words",
        "1200",
        "--clean-domains",
        "childes",
    ]
    assert main(argv) == 0
    manifest = json.loads((workspace.corpus_dir("b24") / "manifest.json").read_text())
    assert manifest["babylm_version"] == "2024" and manifest["budget_words"] == 1200
    assert 1200 - 6 * 6 <= manifest["splits"]["train"]["words"] <= 1200
    childes = (workspace.corpus_dir("b24") / "train" / "childes.txt").read_text()
    assert childes.startswith("more juice please.\n")
    assert (workspace.corpus_dir("b24") / "train" / "switchboard.txt").read_text().startswith("*CHI:")


def test_synth_size_flag_is_words_with_tokens_kept(workspace, capsys):
    with pytest.raises(SystemExit):
        main(["data", "synth", "--help"])
    usage = " ".join(capsys.readouterr().out.split())
    assert "--words W, --tokens W, --num-tokens W" in usage and "count of whitespace-separated words" in usage
    assert main(["data", "synth", "--name", "old", "--tokens", "300"]) == 0
    assert json.loads((workspace.corpus_dir("old") / "manifest.json").read_text())["requested_words"] == 300


@pytest.mark.parametrize(
    "words, message",
    [
        ("300M", "--words: 300,000,000 is more than 200,000,000 words"),
        ("9" * 1_000_000, "--words: a count of 1,000,000 characters is not a word count"),
    ],
)
def test_synth_refuses_absurd_sizes(workspace, capsys, words, message):
    assert main(["data", "synth", "--name", "huge", "--words", words]) == 2
    assert message in capsys.readouterr().err
    assert not list(workspace.data_dir.iterdir())


def test_synth_killed_with_sigterm_leaves_no_temp_folder(workspace):
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "data", "synth", "--name", "big", "--words", "150M"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not list(workspace.data_dir.glob(".big.tmp-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(workspace.data_dir.glob(".big.tmp-*")), "the temp folder never appeared"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert "Traceback" not in proc.stderr.read().decode()
    assert list(workspace.data_dir.iterdir()) == []


def test_prepare_names_a_file_that_vanished_and_goes_on(workspace, tmp_path, capsys, monkeypatch):
    from core.data import custom

    source = tmp_path / "src"
    source.mkdir()
    for name in ("a", "b", "c"):
        (source / f"{name}.txt").write_text(f"text of {name} one.\n\ntext of {name} two.\n")
    real = custom.unit_documents

    def deleting(unit, cleaners):  # the first read removes b.txt, as another program might
        (source / "b.txt").unlink(missing_ok=True)
        return real(unit, cleaners)

    monkeypatch.setattr(custom, "unit_documents", deleting)
    assert main(["data", "prepare", "--source", str(source), "--name", "gone"]) == 0
    assert "b.txt: vanished while preparing (deleted or moved); skipped" in capsys.readouterr().err
    files = {f["source"] for f in json.loads((workspace.corpus_dir("gone") / "manifest.json").read_text())["files"]}
    assert files == {str(source / "a.txt"), str(source / "c.txt")}
