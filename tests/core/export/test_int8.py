"""`--format int8`: onnxruntime's dynamic int8 quantization, smaller, with perplexity before/after."""

from __future__ import annotations

import json
import math

import pytest
import torch

from core.evaluate.inputs import resolve_eval_text
from core.evaluate.perplexity import perplexity
from core.export.onnx_model import OnnxCausalLM
from core.export.runner import ExportOptions, run_export
from core.generate import load_model


@pytest.fixture(scope="module")
def int8_export(export_ws):
    lines = []
    result, folder = run_export(ExportOptions("r1", "int8", max_tokens=2000), export_ws, log=lines.append)
    return result, folder, lines


def test_int8_is_smaller_and_reports_finite_perplexity(int8_export):
    result, folder, lines = int8_export
    report = json.loads((folder / "int8_report.json").read_text())
    assert report == result["int8"]
    size = report["size"]
    assert size["int8_onnx_mb"] < size["fp32_onnx_mb"] and size["ratio"] > 1.2
    assert size["int8_onnx_mb"] == pytest.approx((folder / "model.int8.onnx").stat().st_size / 1e6)
    before, after = report["perplexity_before"], report["perplexity_after"]
    assert math.isfinite(before["perplexity"]) and math.isfinite(after["perplexity"])
    assert before["tokens"] == after["tokens"] >= 2000 and report["data"] == "syn/dev"
    # Int8 weights change the numbers a little, not the model: within 5 % of float32 here.
    assert abs(report["perplexity_change"]) < 0.05 and report["fp32_check"]["passed"]
    assert any(line.startswith("int8: ") and "perplexity" in line for line in lines)
    names = {p.name for p in folder.iterdir()}
    assert "model.int8.onnx" in names and not any(n.startswith(".fp32") or n == "model.onnx" for n in names)


def test_int8_file_loads_runs_and_scores_what_was_reported(export_ws, int8_export):
    result, folder, _ = int8_export
    runner = OnnxCausalLM.load(folder)
    model, tokenizer = load_model("r1", export_ws, device="cpu")
    ids = torch.arange(5, 45).reshape(2, 20)
    with torch.inference_mode():
        ref = model(input_ids=ids).logits
    got = runner(input_ids=ids).logits
    assert got.shape == ref.shape and 0 < float((got - ref).abs().max()) < 1.0  # quantized: close, not equal
    text = resolve_eval_text("syn", export_ws)
    # Same windows per pass as the report: int8 activations are scaled per batch, so the batch matters.
    again = perplexity(runner, tokenizer, text.files, 32, 16384 // 32, 2000)
    assert again["perplexity"] == pytest.approx(result["int8"]["perplexity_after"]["perplexity"], rel=1e-6)


def test_int8_without_text_asks_for_data(export_ws, tmp_path):
    from core.errors import UserError

    model, tokenizer = load_model("r1", export_ws, device="cpu")
    foreign = tmp_path / "foreign"
    model.save_pretrained(foreign)
    tokenizer.save_pretrained(foreign)  # a plain HF folder: no run config naming a corpus
    with pytest.raises(UserError, match="--data: int8 reports perplexity before and after.*give --data CORPUS"):
        run_export(ExportOptions(str(foreign), "int8"), export_ws, log=lambda m: None)
    assert not (export_ws.root / "exports" / "foreign-int8").exists()
