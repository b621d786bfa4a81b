"""ONNX export of a causal LM's decoder (input_ids + attention_mask -> logits, dynamic batch and
sequence axes), the check of onnxruntime's logits against PyTorch, and `OnnxCausalLM`, which runs
an exported file (fp32 or int8) where our scoring code expects a model. Must not import gradio.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from core.errors import UserError

INPUTS = ("input_ids", "attention_mask")
OUTPUT = "logits"
ONNX_FILE = "model.onnx"
CHECK_FILE = "onnx_check.json"
# Logits may differ by float rounding only: 1e-4 of the largest logit's magnitude (at least 1e-4).
RELATIVE_TOLERANCE = 1e-4
EXTERNAL_DATA_BYTES = 1_500_000_000  # protobuf caps one file at 2 GB: bigger weights go beside it


class _LogitsOnly(torch.nn.Module):
    """The decoder without a KV cache: what the exported graph computes."""

    def __init__(self, lm):
        super().__init__()
        self.lm = lm

    def forward(self, input_ids, attention_mask):
        return self.lm(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits


def context_of(model) -> int:
    cfg = model.config
    return int(getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None) or 2048)


def export_onnx(model, path: Path) -> Path:
    """Write `model` (eval mode, CPU, float32) as an ONNX file; a failing architecture is a UserError."""
    import warnings

    ctx = context_of(model)
    # torch.export specialises axes whose example size is 1: the example must be at least 2 x 2.
    seq = min(8, ctx)
    example = (torch.randint(0, model.config.vocab_size, (2, seq)), torch.ones(2, seq, dtype=torch.long))
    batch = torch.export.Dim("batch", min=1, max=4096)
    length = torch.export.Dim("sequence", min=1, max=ctx)
    shapes = {name: {0: batch, 1: length} for name in INPUTS}
    big = sum(p.numel() * p.element_size() for p in model.parameters()) > EXTERNAL_DATA_BYTES
    # "torchvision is not installed. Skipping torchvision::nms": true, and nothing to do with us.
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation chatter is not the user's business
            torch.onnx.export(
                _LogitsOnly(model.float().cpu().eval()),
                example,
                str(path),
                dynamo=True,
                input_names=list(INPUTS),
                output_names=[OUTPUT],
                dynamic_shapes=shapes,
                external_data=big,
                verbose=False,
            )
    except Exception as err:  # the exporter raises many types; the user needs the architecture named
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        raise UserError(
            f"--format onnx: exporting a {type(model).__name__} ({model.config.model_type}) failed: "
            f"{type(err).__name__}: {first}; export it with --format hf instead"
        ) from err
    _strip_debug_info(path)
    return path


def _strip_debug_info(path: Path) -> None:
    """Drop the exporter's per-node stack traces and FX names: a third of a small model's file, and
    they hold this machine's source paths."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)  # weights in a .data file stay where they are
    for node in proto.graph.node:
        del node.metadata_props[:]
    onnx.save(proto, str(path))


def check_shapes(ctx: int) -> list[tuple[int, int]]:
    """(batch, sequence) pairs the check runs: one token, a short prompt, a padded batch, the full context."""
    return list(dict.fromkeys([(1, 1), (1, min(7, ctx)), (3, min(17, ctx)), (2, ctx)]))


def _check_inputs(batch: int, seq: int, vocab: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    gen = np.random.default_rng(seed)
    ids = gen.integers(0, vocab, size=(batch, seq), dtype=np.int64)
    mask = np.ones((batch, seq), dtype=np.int64)
    if batch > 1 and seq > 2:
        mask[0, : seq // 2] = 0  # left padding on one row: the mask must reach the graph
    return ids, mask


def compare_logits(model, session, shapes: list[tuple[int, int]], seed: int = 0) -> dict:
    """onnxruntime vs PyTorch logits on random inputs of each shape, at unmasked positions.

    Padded query positions attend to nothing; their logits are meaningless and not compared.
    """
    rows, worst, scale = [], 0.0, 0.0
    for i, (batch, seq) in enumerate(shapes):
        ids, mask = _check_inputs(batch, seq, model.config.vocab_size, seed + i)
        with torch.inference_mode():
            ref = (
                model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask), use_cache=False)
                .logits.float()
                .numpy()
            )
        got = session.run([OUTPUT], {"input_ids": ids, "attention_mask": mask})[0]
        keep = mask.astype(bool)
        diff = float(np.abs(got - ref)[keep].max())
        agree = float((got.argmax(-1) == ref.argmax(-1))[keep].mean())
        rows.append({"batch": batch, "sequence": seq, "max_abs_diff": diff, "argmax_agreement": agree})
        worst, scale = max(worst, diff), max(scale, float(np.abs(ref[keep]).max()))
    return {
        "max_abs_diff": worst,
        "max_abs_logit": scale,
        "shapes": rows,
        "argmax_agreement": min(r["argmax_agreement"] for r in rows),
    }


def check_onnx(model, path: Path) -> dict:
    """Run the exported file with onnxruntime and compare with PyTorch; the verdict is `passed`."""
    session = open_session(path)
    out = compare_logits(model, session, check_shapes(context_of(model)))
    tolerance = RELATIVE_TOLERANCE * max(1.0, out["max_abs_logit"])
    return {"file": path.name, **out, "tolerance": tolerance, "passed": out["max_abs_diff"] <= tolerance}


def write_check(folder: Path, check: dict) -> Path:
    path = folder / CHECK_FILE
    path.write_text(json.dumps(check, indent=1), encoding="utf-8")
    return path


def open_session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # warnings about unused initialisers are noise
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def file_mb(path: Path) -> float:
    """Size of an ONNX file plus its external data file, if any, in MB (10^6 bytes)."""
    extra = Path(str(path) + ".data")
    return (path.stat().st_size + (extra.stat().st_size if extra.is_file() else 0)) / 1e6


class OnnxCausalLM:
    """An exported ONNX decoder that answers `model(input_ids=, attention_mask=).logits` like a
    transformers model on CPU, so perplexity and scoring run on it unchanged.

    `OnnxCausalLM.load(folder)` finds the `.onnx` file and the `config.json` written beside it.
    """

    device = torch.device("cpu")

    def __init__(self, path: Path, config):
        self.path, self.config = Path(path), config
        self.session = open_session(self.path)

    @classmethod
    def load(cls, folder: str | Path) -> "OnnxCausalLM":
        from transformers import AutoConfig

        folder = Path(folder)
        files = sorted(folder.glob("*.onnx")) if folder.is_dir() else [folder]
        if not files or not files[0].is_file():
            raise UserError(f"{folder}: no .onnx file; export one with `babyllama export RUN --format onnx`")
        return cls(files[0], AutoConfig.from_pretrained(str(files[0].parent)))

    def eval(self) -> "OnnxCausalLM":
        return self

    def __call__(self, input_ids, attention_mask=None, **_ignored) -> SimpleNamespace:
        ids = np.asarray(input_ids.cpu() if torch.is_tensor(input_ids) else input_ids, dtype=np.int64)
        if attention_mask is None:
            mask = np.ones_like(ids)
        else:
            mask = np.asarray(attention_mask.cpu() if torch.is_tensor(attention_mask) else attention_mask, dtype=np.int64)
        logits = self.session.run([OUTPUT], {"input_ids": ids, "attention_mask": mask})[0]
        return SimpleNamespace(logits=torch.from_numpy(logits))

    def greedy(self, tokenizer, prompt: str, max_new_tokens: int = 20) -> str:
        """The greedy continuation of `prompt` (no KV cache: each step reruns the whole text)."""
        ids = tokenizer(prompt, add_special_tokens=False)["input_ids"] or [tokenizer.eos_token_id]
        new: list[int] = []
        for _ in range(min(max_new_tokens, context_of(self) - len(ids))):
            token = int(self(np.array([ids + new])).logits[0, -1].argmax())
            if token == tokenizer.eos_token_id:
                break
            new.append(token)
        return tokenizer.decode(new, skip_special_tokens=True)
