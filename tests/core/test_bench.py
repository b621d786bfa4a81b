"""core.bench: FLOP counting, the step gate's protocol, the CLI, and (slow) a real tiny bench run."""

from __future__ import annotations

import argparse
import io
import json
import math

import pytest

from core import config as config_mod
from core.bench import flops
from core.bench.report import format_report
from core.bench.run import BenchOptions, run_bench
from core.bench.side import Gate
from core.cli import bench_cmds
from core.config import presets

REQUIRED = ("ours_tokens_per_s", "baseline_tokens_per_s", "ratio", "mfu", "peak_rss_mb")


def test_llama_10m_flops_count_the_output_layer_but_not_the_embedding():
    m = config_mod.load(presets.find("llama-10M")).model
    matmul = flops.matmul_parameters(m, 16000)
    assert matmul == 9_685_440 - 16000 * 192  # all parameters but the input embedding table
    assert 0.45 < 16000 * 192 / matmul < 0.47  # the "~46 % of the FLOPs" at vocab 16k
    assert flops.flops_per_token(m, 16000, 128) == 6 * matmul + 12 * 6 * 192 * 128


def test_tied_embedding_stays_in_the_matmul_count():
    m = config_mod.load(presets.find("llama-10M"), ["model.tie_word_embeddings=true"]).model
    from core.model.build import count_parameters

    assert flops.matmul_parameters(m, 16000) == count_parameters(m, 16000)


def test_matmul_peak_and_rss_are_positive():
    assert flops.matmul_peak(n=128, repeats=2) > 0
    assert flops.peak_rss_mb() > 10


def test_gate_reports_each_round_and_waits_for_go():
    reply, commands = io.StringIO(), io.StringIO("go\ngo\ngo\n")
    gate = Gate(warmup=1, steps=2, rounds=2, reply=reply, commands=commands)
    assert gate.total_steps == 5
    gate.begin()
    for step in range(1, 6):
        gate.step_end(step)
    reports = [json.loads(line) for line in reply.getvalue().splitlines()]
    assert [r["round"] for r in reports] == [0, 1, 2]
    assert [len(r["step_times"]) for r in reports] == [1, 2, 2]
    assert commands.read() == ""  # every report waited for its `go`


def test_gate_stops_when_the_parent_is_gone():
    gate = Gate(warmup=1, steps=1, rounds=1, reply=io.StringIO(), commands=io.StringIO(""))
    gate.begin()
    with pytest.raises(SystemExit):
        gate.step_end(1)


def _parser():
    parser = argparse.ArgumentParser(prog="babyllama")
    bench_cmds.register(parser.add_subparsers(dest="verb", required=True))
    return parser


def test_cli_defaults_and_help():
    args = _parser().parse_args(["bench", "train"])
    assert (args.preset, args.batch_size, args.seq_length, args.vocab_size) == ("llama-10M", 32, 128, 16000)
    assert args.func is not None and not args.json
    with pytest.raises(SystemExit) as done:
        _parser().parse_args(["bench", "train", "--help"])
    assert done.value.code == 0


def test_cli_joins_a_bench_group_registered_before():
    parser = argparse.ArgumentParser(prog="babyllama")
    subparsers = parser.add_subparsers(dest="verb", required=True)
    other = subparsers.add_parser("bench", help="measure speed").add_subparsers(dest="bench_verb", required=True)
    other.add_parser("eval", help="another module's bench")
    bench_cmds.register(subparsers)
    assert set(other.choices) == {"eval", "train"}
    assert parser.parse_args(["bench", "train", "--rounds", "4"]).rounds == 4


def test_format_report_names_every_figure():
    result = {
        "ours_tokens_per_s": 1500.0,
        "baseline_tokens_per_s": 1000.0,
        "ratio": 1.5,
        "mfu": 0.5,
        "peak_rss_mb": 1800.0,
        "baseline_mfu": 0.33,
        "baseline_peak_rss_mb": 2000.0,
        "ours_round_tokens_per_s": [1500.0],
        "baseline_round_tokens_per_s": [1000.0],
        "matmul_peak_gflops": 120.0,
        "model_flops_per_token": 41_450_112,
        "parameters": 9_685_440,
        "matmul_parameters": 6_613_440,
        "preset": "llama-10M",
        "model_type": "Llama",
        "vocab_size": 16000,
        "tokenizer_vocab": 1074,
        "unused_vocab_rows": 14926,
        "batch_size": 32,
        "seq_length": 128,
        "steps_per_round": 4,
        "rounds": 3,
        "warmup_steps": 2,
        "threads": 2,
        "tuned_malloc": True,
        "baseline_tuned_malloc": True,
        "other_malloc_tokens_per_s": 900.0,
        "other_malloc_round_tokens_per_s": [900.0],
        "other_malloc_peak_rss_mb": 1900.0,
        "malloc_effect": 1.67,
        "paired_malloc_effect": 1.6,
        "seconds": 100.0,
        "load_avg_before": 0.1,
        "load_avg_after": 2.0,
        "paired_ratio": 1.45,
        "ours_best_tokens_per_s": 1700.0,
        "baseline_best_tokens_per_s": 1100.0,
        "best_ratio": 1.55,
        "best_mfu": 0.6,
        "matmul_peaks_gflops": [110.0, 120.0, 115.0],
        "paired_mfu": 0.55,
        "compiled": True,
    }
    text = format_report(result)
    for fragment in (
        "both sides compiled (training.torch_compile; Trainer torch_compile=True)",
        "the peak ranged 110-120 GFLOP/s",
        "MFU 55.0 % (median of rounds)",
        "1,500 tokens/s",
        "1.50x",
        "50.0 %",
        "1,800 MB",
        "14,926 output rows are unused",
        "round by round 1.45x",
        "ours 1,700, Trainer 1,100 tokens/s: 1.55x, MFU 60.0 %",
        "GLIBC_TUNABLES as for jobs on both sides",
        "ours, glibc's default malloc",
        "allocator effect (ours)",
        "1.67x",
        "round by round 1.60x",
    ):
        assert fragment in text
    result.update(baseline_tuned_malloc=False)
    assert "NOT like for like" in format_report(result)


def test_both_sides_get_the_same_allocator_and_a_third_side_measures_it():
    """Before: only our side had the jobs' GLIBC_TUNABLES (1.92x, against 1.04x like for like)."""
    opts = BenchOptions()
    assert opts.sides == ("ours", "trainer", "ours_malloc")
    assert opts.malloc_tuned("ours") and opts.malloc_tuned("trainer") and not opts.malloc_tuned("ours_malloc")
    plain = BenchOptions(tuned_malloc=False)
    assert not plain.malloc_tuned("ours") and not plain.malloc_tuned("trainer") and plain.malloc_tuned("ours_malloc")
    assert BenchOptions(malloc_effect=False).sides == ("ours", "trainer")
    args = _parser().parse_args(["bench", "train", "--no-malloc-effect"])
    assert args.no_malloc_effect and not args.no_malloc_tuning


def test_the_side_env_keeps_or_drops_the_tunables():
    from core.bench.run import _side_env

    assert "GLIBC_TUNABLES" in _side_env(True) and "GLIBC_TUNABLES" not in _side_env(False)


def test_trainer_side_compiles_when_ours_does(monkeypatch, tmp_path):
    """`--compile` compiled only our side before; Trainer gets torch_compile=True now."""
    import transformers

    from core.bench import side

    seen = {}

    class FakeTrainer:
        def __init__(self, model, args, **kwargs):
            seen["compile"], seen["bf16"] = args.torch_compile, args.bf16

        def train(self):
            pass

    import transformers.trainer

    # transformers is a lazy module: patch the class where it is defined and where it is re-exported.
    monkeypatch.setattr(transformers.trainer, "Trainer", FakeTrainer)
    monkeypatch.setattr(transformers, "Trainer", FakeTrainer)
    cfg = config_mod.load(presets.find("tiny"), ["training.torch_compile=true", "model.vocab_size=300"])
    gate = Gate(warmup=1, steps=1, rounds=1, reply=io.StringIO(), commands=io.StringIO())
    side.run_trainer(cfg, None, tmp_path, gate)
    assert seen == {"compile": True, "bf16": False}


def test_bad_options_fail_before_any_work(workspace):
    from core.errors import UserError

    with pytest.raises(UserError, match="--steps"):
        run_bench(BenchOptions(steps=0), workspace)
    with pytest.raises(UserError, match="--warmup"):
        run_bench(BenchOptions(warmup=0), workspace)


@pytest.mark.slow
@pytest.mark.parametrize("compiled", [False, True], ids=["eager", "compiled"])
def test_tiny_bench_reports_positive_finite_figures(workspace, capsys, compiled, request):
    if compiled:
        request.getfixturevalue("cxx")  # skips without a C++ compiler
    args = _parser().parse_args(
        [
            "bench",
            "train",
            "--preset",
            "tiny",
            "--steps",
            "1",
            "--rounds",
            "2",
            "--warmup",
            "1",
            "--batch-size",
            "8",
            "--seq-length",
            "64",
            "--json",
            "--workspace",
            str(workspace.root),
            *(["--compile"] if compiled else []),
        ]
    )
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out)  # stdout holds exactly one JSON object
    for key in (*REQUIRED, "paired_mfu"):
        assert math.isfinite(result[key]) and result[key] > 0, key
    assert result["compiled"] is compiled
    assert len(result["matmul_peaks_gflops"]) == 3  # before round 1, after rounds 1 and 2
    assert result["matmul_peak_gflops"] == max(result["matmul_peaks_gflops"])
    assert result["vocab_size"] == 16000 and result["preset"] == "tiny"
    assert result["threads_used"] == result["threads"]  # nothing in the loop changed torch's threads
    assert result["tuned_malloc"] and result["baseline_tuned_malloc"]
    assert math.isfinite(result["malloc_effect"]) and result["other_malloc_tokens_per_s"] > 0
