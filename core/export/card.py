"""The model card (`README.md`) of an export: architecture and size, the resolved config, data and
tokenizer, the run's last/best metrics and evaluations from the history, the command that trained
it, and how to load the exported files. Pure text from what it is given; must not import gradio.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from core.history import Run

BEST_LOWER = ("eval_loss", "loss", "perplexity", "eval_perplexity")  # metrics where lower is better

USAGE = {
    "hf": """```python
from transformers import AutoModelForCausalLM, AutoTokenizer

model = AutoModelForCausalLM.from_pretrained("{folder}")
tokenizer = AutoTokenizer.from_pretrained("{folder}")
ids = tokenizer("Once upon a time", return_tensors="pt", add_special_tokens=False).input_ids
print(tokenizer.decode(model.generate(ids, max_new_tokens=30, do_sample=True)[0]))
```""",
    "onnx": """```python
import numpy as np, onnxruntime as ort
from transformers import AutoTokenizer

session = ort.InferenceSession("{folder}/{file}")
tokenizer = AutoTokenizer.from_pretrained("{folder}")
ids = np.array([tokenizer("Once upon a time", add_special_tokens=False).input_ids])
logits = session.run(["logits"], {{"input_ids": ids, "attention_mask": np.ones_like(ids)}})[0]
```
Or, with BabyLlama Studio installed: `core.export.onnx_model.OnnxCausalLM.load("{folder}")` (greedy
generation, and a drop-in model for perplexity scoring).""",
}
USAGE["int8"] = USAGE["onnx"]
USAGE["babylm"] = """```python
from transformers import AutoModelForCausalLM, AutoTokenizer

# A local folder: "{folder}/main" or "{folder}/chck_1M"; once uploaded: the repository and a revision.
model = AutoModelForCausalLM.from_pretrained("your-name/your-model", revision="chck_1M")
tokenizer = AutoTokenizer.from_pretrained("your-name/your-model", revision="chck_1M")
```"""


def _architecture(model) -> dict:
    cfg = model.config
    get = lambda *names: next((getattr(cfg, n) for n in names if getattr(cfg, n, None) is not None), None)  # noqa: E731
    n_params = sum(p.numel() for p in model.parameters())
    return {
        "class": type(model).__name__,
        "model_type": cfg.model_type,
        "parameters": n_params,
        "layers": get("num_hidden_layers", "n_layer"),
        "hidden_size": get("hidden_size", "n_embd"),
        "heads": get("num_attention_heads", "n_head"),
        "context": get("max_position_embeddings", "n_positions"),
        "vocab_size": cfg.vocab_size,
        "tied_embeddings": bool(getattr(cfg, "tie_word_embeddings", False)),
        "float32_mb": round(n_params * 4 / 1e6, 2),
    }


def _metric_lines(history, run: str) -> list[str]:
    last = history.last_metrics(run)
    if not last:
        return ["No training metrics were logged."]
    lines = ["| metric | last | best (step) |", "|---|---|---|"]
    for name in sorted(last):
        series = history.metric_series(run, name)
        best = ""
        if name in BEST_LOWER and series:
            step, value = min(series, key=lambda sv: sv[1] if sv[1] is not None and math.isfinite(sv[1]) else math.inf)
            best = f"{value:.4g} ({step})"
        lines.append(f"| {name} | {last[name]:.4g} | {best} |")
    return lines


def _eval_lines(history, run: str) -> list[str]:
    rows = history.evals(run)
    if not rows:
        return ["No evaluation was recorded (`babyllama eval` adds one)."]
    newest: dict[tuple, dict] = {}
    for row in rows:  # oldest first: the last row of each (suite, name) wins
        newest[(row["suite"], row["name"])] = row
    lines = ["| suite | metric | value | step |", "|---|---|---|---|"]
    for (suite, name), row in sorted(newest.items()):
        value = "" if row["value"] is None else f"{row['value']:.4g}"
        lines.append(f"| {suite} | {name} | {value} | {row['step'] if row['step'] is not None else ''} |")
    return lines


def _data_lines(info) -> list[str]:
    if info.config is None:
        return ["The source folder carries no BabyLlama run config: data unknown."]
    d = info.config.data
    return [
        f"- training text: `{d.train_path}`",
        f"- evaluation text: `{d.eval_path or d.train_path + ' (dev split)'}`",
        f"- tokenizer: `{d.tokenizer_path}`",
        f"- sequence length: {d.seq_length} tokens",
    ]


def model_card(
    model, tokenizer, info, fmt: str, *, history=None, run_row: Run | None = None, files: list[str] = (), extra: list[str] = ()
) -> str:
    """The README.md text of an export in format `fmt` (see the module docstring)."""
    arch, name = _architecture(model), info.run or info.folder.name
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-generation",
        f"tags: [babyllama, {arch['model_type']}, {fmt}]",
        "---",
        "",
        f"# {name}",
        "",
        f"A {arch['parameters'] / 1e6:.2f}M-parameter {arch['class']} trained from scratch with BabyLlama Studio, "
        f"exported as `{fmt}` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from `{info.folder}`"
        + (f" (step {info.step})" if info.step is not None else "")
        + ".",
        "",
        "## Architecture",
        "",
        "| | |",
        "|---|---|",
    ]
    lines += [f"| {key.replace('_', ' ')} | {value} |" for key, value in arch.items()]
    lines += ["", f"Tokenizer: {type(tokenizer).__name__}, {len(tokenizer)} tokens.", "", "## Data and tokenizer", ""]
    lines += _data_lines(info)
    lines += ["", "## How it was trained", ""]
    command = run_row.command if run_row is not None else None
    lines += [f"```\n{command}\n```" if command else "The training command was not recorded."]
    if run_row is not None:
        lines += [
            "",
            f"Status: {run_row.status}, step {run_row.step or 0}"
            + (f" of {run_row.total_steps}" if run_row.total_steps else "")
            + ".",
        ]
    if history is not None and info.run:
        lines += ["", "## Training metrics", ""] + _metric_lines(history, info.run)
        lines += ["", "## Evaluations", ""] + _eval_lines(history, info.run)
    lines += list(extra)
    if info.config is not None:
        lines += ["", "## Resolved config", "", "```yaml", yaml.safe_dump(info.config.to_dict(), sort_keys=False).rstrip(), "```"]
    lines += ["", "## Files", ""] + [f"- `{f}`" for f in files]
    lines += [
        "",
        "## Usage",
        "",
        USAGE[fmt].format(folder="PATH/TO/THIS/FOLDER", file=next((f for f in files if f.endswith(".onnx")), "model.onnx")),
    ]
    return "\n".join(lines) + "\n"
