"""`babyllama bench generate`: the JSON it prints and that both sides make the same greedy tokens.

Tiny settings only; the speed figures themselves are the bench's job, never a test's.
"""

from __future__ import annotations

import json

import pytest
import torch

from core.bench.generate import GenBenchOptions, format_report, run_gen_bench
from core.cli import main
from core.errors import UserError

TINY = [
    "--preset",
    "tiny",
    "--new-tokens",
    "6",
    "--prompt-tokens",
    "9",
    "--batch-sizes",
    "1,3",
    "--rounds",
    "1",
    "--vocab-size",
    "300",
    "--threads",
    "1",
]


@pytest.fixture(autouse=True)
def keep_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_json_has_both_sides_per_batch_and_same_greedy_tokens(workspace, capsys):
    assert main(["bench", "generate", *TINY, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [row["batch"] for row in result["by_batch"]] == [1, 3]
    for row in result["by_batch"]:
        assert set(row) >= {"batch", "ours_tokens_per_s", "hf_tokens_per_s", "ratio"}
        assert row["ours_tokens_per_s"] > 0 and row["hf_tokens_per_s"] > 0
        assert row["ratio"] == pytest.approx(row["ours_tokens_per_s"] / row["hf_tokens_per_s"])
        assert row["same_tokens"] is True and row["ratio_cpu"] > 0  # left-padded batch 3 too
    first = result["by_batch"][0]
    assert (result["ours_tokens_per_s"], result["hf_tokens_per_s"], result["ratio"]) == (
        first["ours_tokens_per_s"],
        first["hf_tokens_per_s"],
        first["ratio"],
    )
    assert result["mode"] == "greedy" and result["new_tokens"] == 6 and result["threads"] == 1


def test_sampled_mode_and_text_report(workspace):
    opts = GenBenchOptions(
        preset="tiny", new_tokens=4, prompt_tokens=5, batch_sizes=(2,), rounds=1, vocab_size=200, threads=1, sample=True
    )
    result = run_gen_bench(opts, workspace, log=lambda m: None)
    assert result["mode"] == "sampled" and result["by_batch"][0]["same_tokens"] is None
    text = format_report(result)
    assert "batch 2: ours" in text and "transformers generate" in text and "target" in text


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--new-tokens", "0"], "--new-tokens"),
        (["--batch-sizes", "1,x"], "--batch-sizes"),
        (["--batch-sizes", "0"], "--batch-sizes"),
        (["--new-tokens", "500"], "context"),
    ],
)
def test_bad_options_fail_before_any_work(workspace, capsys, argv, needle):
    assert main(["bench", "generate", "--preset", "tiny", "--vocab-size", "100", "--threads", "1", *argv]) == 2
    assert needle in capsys.readouterr().err


def test_unknown_preset_is_a_user_error(workspace):
    with pytest.raises(UserError):
        run_gen_bench(GenBenchOptions(preset="no-such-preset"), workspace, log=lambda m: None)


def test_different_tokens_give_no_ratio_and_exit_1(workspace, capsys, monkeypatch):
    """A ratio of two loops that generated different tokens compares nothing (before: printed)."""
    from core.bench import generate as gen

    real = gen._sides

    def one_side_off(model, opts, batch):
        ours, hf = real(model, opts, batch)
        return ours, lambda: [[t + 1 for t in row] for row in hf()]

    monkeypatch.setattr(gen, "_sides", one_side_off)
    assert main(["bench", "generate", *TINY, "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["ratio"] is None and result["same_tokens"] is False
    assert all(row["ratio"] is None and row["ratio_cpu"] is None for row in result["by_batch"])
    assert "no ratio" in format_report(result)
