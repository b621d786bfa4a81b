"""`--format onnx`: the decoder as ONNX with dynamic axes, checked against PyTorch with onnxruntime."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from core.errors import UserError
from core.export import onnx_model
from core.export.onnx_model import OnnxCausalLM
from core.export.runner import ExportOptions, run_export
from core.generate import SamplingParams, generate, load_model


@pytest.fixture(scope="module")
def onnx_export(export_ws):
    lines = []
    result, folder = run_export(ExportOptions("r1", "onnx"), export_ws, log=lines.append)
    return result, folder, lines


def test_check_passes_and_is_saved_beside_the_file(onnx_export):
    result, folder, lines = onnx_export
    assert {"model.onnx", "onnx_check.json", "tokenizer.json", "config.json", "README.md"} <= {p.name for p in folder.iterdir()}
    check = json.loads((folder / "onnx_check.json").read_text())
    assert check == result["check"] and check["passed"] and check["max_abs_diff"] <= check["tolerance"] <= 1e-3
    assert {(s["batch"], s["sequence"]) for s in check["shapes"]} == {(1, 1), (1, 7), (3, 17), (2, 64)}
    assert any(line.startswith("check: max abs diff") and line.endswith("pass (4 shapes)") for line in lines)
    assert "## ONNX check" in (folder / "README.md").read_text()
    # The exporter's per-node stack traces (this machine's paths) are stripped.
    assert b"pkg.torch.onnx.stack_trace" not in (folder / "model.onnx").read_bytes()


def test_onnxruntime_logits_match_pytorch_on_new_shapes(export_ws, onnx_export):
    _, folder, _ = onnx_export
    model, _ = load_model("r1", export_ws, device="cpu")
    runner = OnnxCausalLM.load(folder)
    gen = torch.Generator().manual_seed(5)
    for batch, seq in [(1, 3), (4, 30), (5, 64)]:
        ids = torch.randint(0, model.config.vocab_size, (batch, seq), generator=gen)
        with torch.inference_mode():
            ref = model(input_ids=ids).logits
        got = runner(input_ids=ids).logits
        assert got.shape == ref.shape == (batch, seq, model.config.vocab_size)
        assert torch.allclose(got, ref, atol=1e-4), float((got - ref).abs().max())


def test_onnx_greedy_text_equals_pytorch(export_ws, onnx_export):
    _, folder, _ = onnx_export
    model, tokenizer = load_model("r1", export_ws, device="cpu")
    expected = generate(
        model, tokenizer, "the cat", SamplingParams(temperature=0, max_new_tokens=12, repetition_penalty=1.0)
    ).text
    assert OnnxCausalLM.load(folder).greedy(tokenizer, "the cat", max_new_tokens=12) == expected


def test_a_check_that_drifts_fails(export_ws, onnx_export, monkeypatch):
    _, folder, _ = onnx_export
    model, _ = load_model("r1", export_ws, device="cpu")
    with torch.no_grad():
        model.lm_head.weight.add_(0.5)  # PyTorch side changed after export: the check must see it
    check = onnx_model.check_onnx(model, folder / "model.onnx")
    assert not check["passed"] and check["max_abs_diff"] > check["tolerance"]


def test_exporter_failure_names_the_architecture(export_ws, monkeypatch):
    model, _ = load_model("r1", export_ws, device="cpu")

    def broken(*args, **kwargs):
        raise RuntimeError("unsupported op aten::frobnicate\nmore detail")

    monkeypatch.setattr(torch.onnx, "export", broken)
    with pytest.raises(
        UserError,
        match=r"--format onnx: exporting a LlamaForCausalLM \(llama\) failed: "
        r"RuntimeError: unsupported op aten::frobnicate; export it with --format hf",
    ):
        onnx_model.export_onnx(model, export_ws.root / "x.onnx")


@pytest.mark.slow
@pytest.mark.parametrize("family", ["GPT2", "GPTJ"])
def test_gpt2_and_gptj_export_and_pass_the_check(export_ws, make_run, family):
    from core.tokenizer import load_tokenizer

    make_run(export_ws, f"r-{family}", load_tokenizer("tok", export_ws), family=family)
    result, folder = run_export(ExportOptions(f"r-{family}", "onnx"), export_ws, log=lambda m: None)
    assert result["check"]["passed"], result["check"]
    ids = np.arange(10, 30, dtype=np.int64).reshape(2, 10)
    logits = OnnxCausalLM.load(folder)(input_ids=torch.from_numpy(ids)).logits
    assert logits.shape == (2, 10, 600) and torch.isfinite(logits).all()
