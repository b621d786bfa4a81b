"""`babyllama presets` and `babyllama config`: output, JSON, and exit code 2 with every problem."""

from __future__ import annotations

import json

import pytest

from core.cli import main


def test_presets_list_json(capsys, workspace):
    assert main(["presets", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["llama-58M"]["parameters"] == 58_343_936
    assert rows["gpt2-97M"]["type"] == "GPT2" and rows["tiny"]["memory_gb"] > 0


def test_presets_list_table_and_show(capsys, workspace):
    assert main(["presets", "list"]) == 0
    out = capsys.readouterr().out
    assert "llama-360M" in out and "360.0M" in out
    assert main(["presets", "show", "tiny"]) == 0
    assert "hidden_size: 64" in capsys.readouterr().out


def test_config_check_prints_resolved_config_and_size(capsys, workspace):
    assert main(["config", "check", "presets/llama-10M.yaml", "--lr", "5e-4", "training.batch_size=8"]) == 0
    out = capsys.readouterr().out
    assert "lr: 0.0005" in out and "batch_size: 8" in out
    assert "parameters: 9,685,440" in out and "training memory estimate" in out


def test_config_check_lists_every_problem_and_exits_2(capsys, workspace):
    code = main(["config", "check", "tiny", "model.n_head=3", "--lr", "0", "data.tokenizer_path=missing-tok"])
    err = capsys.readouterr().err
    assert code == 2
    assert "3 problems" in err and "model.hidden_size" in err and "training.lr" in err
    assert "data.tokenizer_path" in err and "babyllama tokenizer train" in err


def test_config_keys_lists_every_key(capsys):
    assert main(["config", "keys"]) == 0
    out = capsys.readouterr().out
    for key in ("seq_length", "tie_word_embeddings", "lr_scheduler", "save_total_limit", "output_dir"):
        assert key in out


@pytest.mark.parametrize(
    "text, expected",
    [
        ("training:\n  lr: 1e-3\n  lr: 5\n", "training.lr: duplicate key on lines 2 and 3"),
        ("a: &a [x, x]\nb: [*a, *a]\n", "YAML aliases (*a) are not accepted"),
        ("training: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper than 32 levels"),
        ("training:\n  batch_size: " + "9" * 1_000_000 + "\n", "training.batch_size: a number of 1,000,000 characters"),
        ("training:\n  batch_size: 99999999999999999999999\n", "training.batch_size: must be <= 65536"),
    ],
)
def test_config_check_refuses_bad_yaml_with_exit_2_and_no_traceback(workspace, tmp_path, capsys, text, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
