"""core.tokenizer and `babyllama tokenizer ...`: training on real text, loading, finding, measuring."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from core import tokenizer as tk
from core.cli import main
from core.errors import UserError

EXTRA = "Schneewittchen sprach: «Spieglein, Spieglein» – naïve café, 3½ €!\n\ttabs  and  double spaces\n"


@pytest.fixture
def grimm(shared_data):
    return (shared_data / "grimm" / "pg2591.txt").read_text(encoding="utf-8").splitlines()


@pytest.fixture
def corpus(workspace, grimm):
    """A prepared corpus `grimm` as core.data writes it: train/*.txt, dev/*.txt, manifest.json."""
    root = workspace.corpus_dir("grimm")
    (root / "train").mkdir(parents=True)
    (root / "dev").mkdir()
    (root / "train" / "part1.txt").write_text("\n".join(grimm[:2000]) + "\n", encoding="utf-8")
    (root / "train" / "part2.txt").write_text("\n".join(grimm[2000:4000]) + "\n", encoding="utf-8")
    (root / "dev" / "dev.txt").write_text("\n".join(grimm[6000:6200]) + "\n", encoding="utf-8")
    (root / "manifest.json").write_text("{}", encoding="utf-8")
    return root


@pytest.fixture
def trained(workspace, corpus):
    """A 1000-token tokenizer `tok` trained on the corpus."""
    tk.train_tokenizer(corpus, workspace.tokenizer_dir("tok"), vocab_size=1000, progress=False)
    return workspace.tokenizer_dir("tok")


def test_autotokenizer_round_trip_and_special_ids(workspace, corpus, grimm):
    from transformers import AutoTokenizer

    out = workspace.tokenizer_dir("tok")
    result = tk.train_tokenizer(corpus, out, vocab_size=1000, min_frequency=2, progress=False)
    assert result.vocab_size == 1000 and result.files == 2 and not result.warnings
    assert {p.name for p in out.iterdir()} >= {"tokenizer.json", "tokenizer_config.json", tk.META_FILE}
    assert [p.name for p in workspace.tokenizers_dir.iterdir()] == ["tok"]  # no temp folder left behind
    meta = json.loads((out / tk.META_FILE).read_text())
    assert meta["vocab_size_requested"] == 1000 and meta["vocab_size"] == 1000 and meta["min_frequency"] == 2
    assert meta["tokenizer_sha256"] == tk.tokenizer_hash(out) == result.sha256
    assert meta["source"] == str(corpus) and meta["created"]

    tok = AutoTokenizer.from_pretrained(out)
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2, 3)
    assert tok.convert_ids_to_tokens([0, 1, 2, 3]) == ["<pad>", "<s>", "</s>", "<unk>"]
    assert len(tok) == 1000 == tk.vocab_size_of("tok", workspace)
    text = "\n".join(grimm[6000:6100]) + "\n" + EXTRA  # unseen text plus non-ASCII and odd spacing
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert max(ids) < 1000 and tok.unk_token_id not in ids
    assert tok.decode(ids) == text


def test_vocab_too_large_warns_with_size_reached(workspace, grimm, tmp_path, caplog):
    small = tmp_path / "tiny.txt"
    small.write_text("\n".join(grimm[200:230]), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="core.tokenizer"):
        result = tk.train_tokenizer(small, workspace.tokenizer_dir("tiny"), vocab_size=5000, progress=False)
    assert tk.MIN_VOCAB <= result.vocab_size < 2000
    assert result.warnings and f"reached {result.vocab_size}" in result.warnings[0]
    assert f"reached {result.vocab_size}" in caplog.text
    assert tk.vocab_size_of("tiny", workspace) == result.vocab_size


def test_bad_inputs_are_user_errors(workspace, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no text files"):
        tk.train_tokenizer(empty, workspace.tokenizer_dir("a"), vocab_size=500, progress=False)
    (empty / "blank.txt").write_text("  \n\n\t\n", encoding="utf-8")
    with pytest.raises(UserError, match="empty"):
        tk.train_tokenizer(empty, workspace.tokenizer_dir("a"), vocab_size=500, progress=False)
    (empty / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    with pytest.raises(UserError, match="latin1.txt: not UTF-8"):
        tk.train_tokenizer(empty, workspace.tokenizer_dir("a"), vocab_size=500, progress=False)
    with pytest.raises(UserError, match="at least 260"):
        tk.train_tokenizer(empty, workspace.tokenizer_dir("a"), vocab_size=100, progress=False)
    with pytest.raises(UserError, match="not found"):
        tk.train_tokenizer(tmp_path / "nowhere", workspace.tokenizer_dir("a"), progress=False)
    assert not workspace.tokenizer_dir("a").exists()


def test_cli_train_default_name_then_taken_name_is_exit_2_and_untouched(workspace, corpus, capsys):
    assert main(["tokenizer", "train", "--data", "grimm", "--vocab-size", "600"]) == 0
    out = capsys.readouterr().out
    folder = workspace.tokenizer_dir("grimm-bpe600")
    assert "vocab size 600" in out and str(folder) in out
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    code = main(["tokenizer", "train", "--data", "grimm", "--vocab-size", "700", "--name", "grimm-bpe600"])
    assert code == 2
    assert "already exists" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert workspace.tokenizers() == ["grimm-bpe600"]


def test_cli_missing_corpus_is_exit_2(workspace, capsys):
    assert main(["tokenizer", "train", "--data", "nope", "--name", "t"]) == 2
    err = capsys.readouterr().err
    assert "'nope'" in err and "fix:" in err
    assert not workspace.tokenizer_dir("t").exists()


def test_guide_spelling_writes_bare_json_that_loads(workspace, corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(
        [
            "tokenizer",
            "train",
            "--data-dir",
            str(corpus),
            "--vocab-size",
            "800",
            "--output",
            "./models/synthetic-tokenizer.json",
            "--quiet",
        ]
    )
    assert code == 0
    bare = tmp_path / "models" / "synthetic-tokenizer.json"
    assert bare.is_file() and workspace.tokenizers() == ["synthetic-tokenizer"]
    assert tk.resolve_tokenizer("./models/synthetic-tokenizer.json", workspace) == bare.relative_to(tmp_path)

    from_json = tk.load_tokenizer(str(bare), workspace)
    from_dir = tk.load_tokenizer("synthetic-tokenizer", workspace)
    assert (from_json.pad_token_id, from_json.bos_token_id, from_json.eos_token_id, from_json.unk_token_id) == (0, 1, 2, 3)
    text = "The wolf said to the little goat: open the door!"
    assert from_json(text)["input_ids"] == from_dir(text)["input_ids"]
    assert from_json.decode(from_json(text)["input_ids"], skip_special_tokens=True) == text
    assert from_json(text)["input_ids"][0] == from_json.bos_token_id  # texts start with <s>
    assert tk.vocab_size_of(bare, workspace) == 800 == tk.vocab_size_of("synthetic-tokenizer", workspace)
    assert tk.tokenizer_hash(bare) == tk.tokenizer_hash(workspace.tokenizer_dir("synthetic-tokenizer"))


def test_resolve_missing_and_broken(workspace, tmp_path):
    with pytest.raises(UserError, match=r"babyllama tokenizer train --data N --name TOK"):
        tk.resolve_tokenizer("nothere", workspace)
    with pytest.raises(UserError, match="no tokenizer.json"):
        tk.resolve_tokenizer(str(tmp_path), workspace)
    broken = tmp_path / "broken.json"
    broken.write_text('{"model": {}}', encoding="utf-8")
    with pytest.raises(UserError, match="could not be loaded"):
        tk.load_tokenizer(broken, workspace)
    with pytest.raises(UserError, match="not a tokenizers BPE"):
        tk.vocab_size_of(broken, workspace)


def test_inspect_text_numbers_match_an_independent_count(trained, grimm):
    tok = tk.load_tokenizer(trained)
    text = " ".join(grimm[3000:3010]) + " " + EXTRA
    ins = tk.inspect_text(tok, text)
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ins.ids == ids
    assert ins.tokens == tok.convert_ids_to_tokens(ids)
    assert ins.words == len(text.split())
    assert ins.fertility == pytest.approx(len(ids) / len(text.split()))
    assert ins.bytes_per_token == pytest.approx(len(text.encode("utf-8")) / len(ids))
    assert "".join(ins.pieces) == text and len(ins.offsets) == len(ids)
    assert ins.unknown_rate == 0.0
    # A literal "<unk>" in text is matched as the special token: the rate must count it.
    with_unk = tk.inspect_text(tok, "a <unk> b")
    assert with_unk.ids.count(3) == 1 and with_unk.unknown_rate == pytest.approx(1 / len(with_unk.ids))


def test_corpus_stats_match_an_independent_count(workspace, trained, corpus):
    tok = tk.load_tokenizer("tok", workspace)
    stats = tk.corpus_stats(tok, corpus, max_lines=300)
    lines = tk.sample_lines(tk.training_files(corpus), 300)
    assert stats.lines == len(lines) == 300
    assert all(line.strip() for line in lines)
    ids = [tok(line, add_special_tokens=False)["input_ids"] for line in lines]
    n_tokens, n_words = sum(map(len, ids)), sum(len(line.split()) for line in lines)
    assert stats.tokens == n_tokens and stats.words == n_words
    assert stats.fertility == pytest.approx(n_tokens / n_words)
    assert stats.bytes_per_token == pytest.approx(sum(len(x.encode()) for x in lines) / n_tokens)
    assert stats.unknown_rate == 0.0
    # Coverage: pre-tokenizer words that encode to exactly one token.
    pre = tok.backend_tokenizer.pre_tokenizer
    pieces = [line[a:b] for line in lines for _, (a, b) in pre.pre_tokenize_str(line) if line[a:b].strip()]
    single = sum(len(tok(p, add_special_tokens=False)["input_ids"]) == 1 for p in pieces)
    assert stats.coverage == pytest.approx(single / len(pieces))
    assert 0.3 < stats.coverage < 1.0

    tk.train_tokenizer(corpus, workspace.tokenizer_dir("small"), vocab_size=300, progress=False)
    small = tk.corpus_stats(tk.load_tokenizer("small", workspace), corpus, max_lines=300)
    assert small.fertility > stats.fertility and small.coverage < stats.coverage


def test_cli_inspect_and_list_json(workspace, trained, corpus, capsys):
    assert (
        main(["tokenizer", "inspect", "tok", "--text", "Hansel and Gretel", "--corpus", "grimm", "--max-lines", "200", "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["vocab_size"] == 1000 and report["meta"]["vocab_size"] == 1000
    assert report["text"]["words"] == 3 and len(report["text"]["ids"]) == len(report["text"]["tokens"])
    assert report["corpus"]["lines"] == 200 and report["corpus"]["unknown_rate"] == 0.0
    assert main(["tokenizer", "inspect", "tok", "--text", "Hansel and Gretel"]) == 0
    assert "fertility" in capsys.readouterr().out
    assert main(["tokenizer", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["vocab_size"]) for r in rows] == [("tok", 1000)]
    assert main(["tokenizer", "inspect", "gone", "--text", "x"]) == 2


def test_training_files_reads_train_split_only(corpus, tmp_path):
    assert [p.name for p in tk.training_files(corpus)] == ["part1.txt", "part2.txt"]
    loose = tmp_path / "custom"
    (loose / "train").mkdir(parents=True)
    (loose / "train" / "doc1.train").write_text("one doc\n", encoding="utf-8")
    (loose / "train" / ".hidden.txt").write_text("no\n", encoding="utf-8")
    assert [p.name for p in tk.training_files(loose)] == ["doc1.train"]
    shutil.rmtree(loose / "train")
    with pytest.raises(UserError, match="no text files"):
        tk.training_files(loose)


def test_new_tokenizers_add_bos_and_no_bos_keeps_the_old_layout(corpus, tmp_path):
    with_bos = tk.train_tokenizer(corpus, tmp_path / "a", vocab_size=400, progress=False)
    without = tk.train_tokenizer(corpus, tmp_path / "b", vocab_size=400, progress=False, add_bos=False)
    a, b = tk.load_tokenizer(with_bos.out_dir), tk.load_tokenizer(without.out_dir)
    assert tk.adds_bos(a) and not tk.adds_bos(b)
    assert a("Hansel")["input_ids"] == [a.bos_token_id] + b("Hansel")["input_ids"]
    offsets = a("Hansel", return_offsets_mapping=True)["offset_mapping"]
    assert offsets[0] == (0, 0) and offsets[1][0] == 0  # BOS spans nothing; the text keeps its offsets
    assert tk.read_meta(with_bos.out_dir)["adds_bos"] is True and tk.read_meta(without.out_dir)["adds_bos"] is False


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["tokenizer", "train", "--data", "grimm", "--vocab-size", "999999999999"],
            "argument --vocab-size: must be <= 1,048,576, got 999,999,999,999",
        ),
        (["tokenizer", "train", "--data", "grimm", "--vocab-size", "100"], "argument --vocab-size: must be >= 260, got 100"),
        (["tokenizer", "inspect", "tok", "--corpus", "grimm", "--max-lines", "-1"], "argument --max-lines: must be >= 1, got -1"),
        (["tokenizer", "inspect", "tok", "--corpus", "grimm", "--max-lines", "0"], "argument --max-lines: must be >= 1, got 0"),
    ],
)
def test_cli_bounds_exit_2_before_any_work(workspace, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err
    assert not list(workspace.tokenizers_dir.glob("*"))


def test_core_refuses_a_vocab_the_rust_trainer_would_abort_on(workspace, tmp_path):
    (tmp_path / "a.txt").write_text("the cat sat on the mat.\n" * 20, encoding="utf-8")
    with pytest.raises(UserError, match="vocab_size 2,147,483,647 is too large: at most 1,048,576"):
        tk.train_tokenizer(tmp_path, workspace.tokenizer_dir("a"), vocab_size=2**31 - 1, progress=False)
    with pytest.raises(UserError, match="--max-lines: 0 must be at least 1"):
        tk.corpus_stats(None, tmp_path, max_lines=0)
    assert not workspace.tokenizer_dir("a").exists()
