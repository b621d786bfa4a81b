"""benchmarks.gemm_ceiling: the recorded products are exactly the step's linear layers (forward,
input gradient, weight gradient), and the replay runs with the training jobs' allocator."""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks import run
from benchmarks.gemm_ceiling import format_ceiling, main, record_step, run_ceiling_process
from core import config as config_mod
from core.config import presets
from core.errors import UserError
from core.jobs import WORKER_ENV
from core.model.build import build_model

VOCAB, BATCH, SEQ = 300, 4, 32


def _cfg():
    return config_mod.load(presets.find("tiny"), [f"data.seq_length={SEQ}"])


def test_the_products_are_every_linear_layer_three_times_and_nothing_else():
    cfg = _cfg()  # tiny: no dropout, so attention runs in its fused kernel (no products)
    products = record_step(cfg, VOCAB, BATCH, SEQ)
    linears = [m for m in build_model(cfg.model, VOCAB).modules() if isinstance(m, torch.nn.Linear)]
    # Forward, input gradient and weight gradient: 2 x in x out FLOPs each per row. The body sees
    # every position; the output layer (fused loss) all but each sequence's last.
    expected = sum(6 * m.in_features * m.out_features * BATCH * (SEQ - 1 if m.out_features == VOCAB else SEQ) for m in linears)
    assert not any(p.batched for p in products)
    assert len(products) == 3 * len(linears)
    assert sum(p.flops for p in products) == expected


def test_attention_on_the_math_path_is_counted_as_torchs_flop_counter_counts_it():
    from torch.utils.flop_counter import FlopCounterMode

    from benchmarks.gemm_ceiling import _materialise, replay
    from core.train.fused_loss import FusedLossModel

    cfg = config_mod.load(presets.find("tiny"), [f"data.seq_length={SEQ}", "model.dropout=0.1"])
    products = record_step(cfg, VOCAB, BATCH, SEQ)
    torch.manual_seed(0)
    model = FusedLossModel(build_model(cfg.model, VOCAB).train())
    with FlopCounterMode(display=False) as counter:
        model(torch.randint(0, VOCAB, (BATCH, SEQ))).backward()
    counted = counter.get_flop_counts()["Global"]
    batched = sum(p.flops for p in products if p.batched)
    assert batched > 0 and batched == counted[torch.ops.aten.bmm]
    # torch's counter has no rule for the in-place addmm_ (the loss's weight gradient).
    ours = sum(p.flops for p in products if p.op is not torch.ops.aten.addmm_.default)
    assert ours == sum(counted.values())
    assert replay(_materialise(products)) > 0  # every recorded layout can be rebuilt and run


def test_operands_with_expanded_layouts_can_be_rebuilt():
    from benchmarks.gemm_ceiling import TensorSpec

    spec = TensorSpec((4, 3, 5), (0, 5, 1), torch.float32)  # a matmul's broadcast batch
    t = spec.make()
    assert t.shape == (4, 3, 5) and t.stride() == (0, 5, 1)
    assert torch.bmm(t, torch.randn(4, 5, 2)).shape == (4, 3, 2)


@pytest.mark.slow
def test_the_replay_runs_in_a_child_with_the_jobs_allocator():
    result = run_ceiling_process(_cfg(), VOCAB, BATCH, SEQ, passes=2, threads=1)
    assert result["glibc_tunables"] == WORKER_ENV["GLIBC_TUNABLES"] and result["threads"] == 1
    assert len(result["replay_s_all"]) == len(result["matmul_peaks_gflops"]) == 2
    for key in ("replay_s", "gemm_efficiency", "paired_gemm_efficiency", "mfu_ceiling", "paired_mfu_ceiling"):
        assert math.isfinite(result[key]) and result[key] > 0, key
    assert result["gemm_gflop"] < result["model_gflop"]  # attention is not among the products
    text = format_ceiling(result, "tiny")
    assert "matrix products per step" in text and "MFU ceiling" in text


def test_command_line_defaults_and_bad_input(workspace, capsys):
    from benchmarks.gemm_ceiling import parser

    args = parser().parse_args(["--workspace", str(workspace.root)])
    assert (args.preset, args.batch_size, args.seq_length, args.vocab_size, args.passes) == ("llama-10M", 32, 128, 16000, 10)
    with pytest.raises(UserError, match="--passes"):
        main(["--passes", "0", "--workspace", str(workspace.root)])
    assert run(main, ["--passes", "0", "--workspace", str(workspace.root)]) == 2
    assert "--passes: 0 must be at least 1" in capsys.readouterr().err


def test_format_names_the_ceiling():
    r = {
        "batch_size": 32,
        "seq_length": 128,
        "vocab_size": 16000,
        "threads": 2,
        "products": 138,
        "gemm_gflop": 161.9,
        "model_gflop": 169.8,
        "replay_s": 0.78,
        "replay_s_all": [0.78] * 10,
        "paired_gemm_efficiency": 0.808,
        "gemm_efficiency": 0.678,
        "matmul_peaks_gflops": [228.0, 305.0],
        "mfu_ceiling": 0.711,
        "paired_mfu_ceiling": 0.847,
    }
    text = format_ceiling(r, "llama-10M")
    for fragment in (
        "138 matrix products per step, 161.9 GFLOP",
        "80.8 % of the peak measured right after",
        "attention's products run inside its fused kernel",
        "67.8 % of the best (305 GFLOP/s; range 228-305)",
        "71.1 % (84.7 % paired)",
    ):
        assert fragment in text
    assert "4.2 GFLOP of them are attention's batched products" in format_ceiling({**r, "batched_gflop": 4.2}, "gptj")
