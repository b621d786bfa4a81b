"""int8: onnxruntime's dynamic quantization of an exported ONNX decoder (int8 weights for every
MatMul/Gemm, activations quantized on the fly; the embedding table stays float32, so the larger
its share of the model, the less the file shrinks), with an honest report: file sizes, logit drift and
perplexity on the run's dev split before (PyTorch, float32) and after (the int8 file run by
onnxruntime). Must not import gradio.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from core.export.onnx_model import OnnxCausalLM, check_shapes, compare_logits, context_of, file_mb

INT8_FILE = "model.int8.onnx"
REPORT_FILE = "int8_report.json"
PPL_TOKENS_PER_PASS = 16384  # as core.evaluate.runner: logits are windows x seq_length x vocab floats


def quantize(fp32: Path, target: Path) -> Path:
    """Write the int8 version of the ONNX file `fp32` to `target`."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic

    # onnxruntime logs a "consider pre-processing" warning on every call: not actionable here.
    quiet = logging.getLogger()
    level, quiet.level = quiet.level, logging.ERROR
    try:
        quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8)
    finally:
        quiet.setLevel(level)
    return target


def measure_perplexity(model, tokenizer, text, seq_length: int, max_tokens: int, log) -> dict:
    from core.evaluate.perplexity import perplexity

    batch = max(1, PPL_TOKENS_PER_PASS // seq_length)
    out = perplexity(model, tokenizer, text.files, seq_length, batch, max_tokens, log)
    return {k: out[k] for k in ("perplexity", "loss", "bits_per_byte", "tokens", "truncated", "seconds")}


def int8_report(model, tokenizer, fp32: Path, int8: Path, text, seq_length: int, max_tokens: int, log) -> dict:
    """Sizes, logit drift and perplexity before/after for the int8 file `int8` made from `fp32`."""
    runner = OnnxCausalLM(int8, model.config)
    seq_length = min(seq_length, context_of(model))
    log(f"perplexity on {text.label}: PyTorch float32 (before)")
    before = measure_perplexity(model, tokenizer, text, seq_length, max_tokens, log)
    log(f"  perplexity {before['perplexity']:.3f} over {before['tokens']:,} tokens")
    log("perplexity: int8 ONNX with onnxruntime (after)")
    after = measure_perplexity(runner, tokenizer, text, seq_length, max_tokens, log)
    log(f"  perplexity {after['perplexity']:.3f} over {after['tokens']:,} tokens")
    drift = compare_logits(model, runner.session, check_shapes(context_of(model)))
    sizes = {"fp32_onnx_mb": file_mb(fp32), "int8_onnx_mb": file_mb(int8)}
    sizes["ratio"] = sizes["fp32_onnx_mb"] / sizes["int8_onnx_mb"]
    change = after["perplexity"] / before["perplexity"] - 1 if math.isfinite(before["perplexity"]) else float("nan")
    return {
        "file": int8.name,
        "size": sizes,
        "data": text.label,
        "data_sha256": text.sha256,
        "seq_length": seq_length,
        "perplexity_before": before,
        "perplexity_after": after,
        "perplexity_change": change,
        "logits_vs_fp32": drift,
        "method": "onnxruntime.quantization.quantize_dynamic (QInt8 weights, dynamic activations)",
        "note": "activations are quantized with one scale per tensor, so logits shift slightly with what "
        "else is in the batch; perplexity used the same windows per pass before and after",
    }


def write_report(folder: Path, report: dict) -> Path:
    path = folder / REPORT_FILE
    path.write_text(json.dumps(report, indent=1), encoding="utf-8")
    return path


def summary(report: dict) -> str:
    s, b, a = report["size"], report["perplexity_before"], report["perplexity_after"]
    return (
        f"int8: {s['fp32_onnx_mb']:.2f} MB -> {s['int8_onnx_mb']:.2f} MB ({s['ratio']:.2f}x smaller); "
        f"perplexity {b['perplexity']:.3f} -> {a['perplexity']:.3f} ({report['perplexity_change']:+.2%}) "
        f"on {report['data']} ({a['tokens']:,} tokens)"
    )
