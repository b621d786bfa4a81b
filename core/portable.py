"""Folders that load in transformers 4.x as well as 5.x: the BabyLM pipeline pins transformers
4.51.3 + tokenizers 0.21.1, and every model or tokenizer folder we write must load there with the
same ids, offsets and logits. Standard library only; never imports torch, transformers or gradio.

transformers 5 saves `"tokenizer_class": "TokenizersBackend"` (a class 4.x does not know: "Tokenizer
class TokenizersBackend does not exist") plus load-time keys (`is_local`, `local_files_only`), and
writes RoPE settings only as `rope_parameters` and the dtype only as `dtype`. `make_portable`
rewrites the two JSON files so both versions read the same tokenizer and the same model:
`PreTrainedTokenizerFast` is what `TokenizersBackend` is in 5.x (a `tokenizer.json` wrapper), and
the 4.x names are added beside the 5.x ones, never instead of them.

The tokenizer also names its `model_input_names`: 4.x's `PreTrainedTokenizerFast` otherwise returns
`token_type_ids` (zeros) beside the ids, and code that calls `model(**tokenizer(text))`, as the
pipeline's reading evaluation does, hands them to GPT-2 and GPT-J, which add the embedding of token
0 to every position: other logits than the model was trained with. 5.x returns ids and mask only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

TOKENIZER_CONFIG = "tokenizer_config.json"
MODEL_CONFIG = "config.json"
PORTABLE_TOKENIZER_CLASS = "PreTrainedTokenizerFast"
# Tokenizer classes that name the `tokenizer.json` wrapper in one version only.
_BACKEND_CLASSES = {"TokenizersBackend", "PreTrainedTokenizerFast"}
# What 5.x's tokenizers return and our models take; 4.x adds token_type_ids unless told this.
MODEL_INPUT_NAMES = ["input_ids", "attention_mask"]
TOKEN_TYPE_MODELS = ("gpt2", "gptj")  # they embed token_type_ids when given them
# Written by transformers 5 from the arguments of the load that preceded the save, not settings.
_LOAD_TIME_KEYS = ("is_local", "local_files_only", "backend")


def make_portable(folder: str | os.PathLike) -> list[str]:
    """Rewrite `folder`'s tokenizer_config.json and config.json (where present) for transformers
    4.x and 5.x alike; returns what changed (empty when the folder already was portable)."""
    folder = Path(folder)
    changes = []
    tok = folder / TOKENIZER_CONFIG
    if tok.is_file():
        changes += _rewrite(tok, _portable_tokenizer_config)
    cfg = folder / MODEL_CONFIG
    if cfg.is_file():
        changes += _rewrite(cfg, _portable_model_config)
    return changes


def portability_note(folder: str | os.PathLike) -> str | None:
    """Why transformers 4.x (the BabyLM pipeline's pin) would not load `folder` the same way as
    5.x, or None; nothing is written (a folder being evaluated may be read-only)."""
    folder = Path(folder)
    names = [n for n in (TOKENIZER_CONFIG, MODEL_CONFIG) if (folder / n).is_file()]
    saved = {n: json.loads((folder / n).read_text(encoding="utf-8")) for n in names}
    model_type = saved.get(MODEL_CONFIG, {}).get("model_type")  # read before the fixes edit the dicts
    changes = []
    for name, fix in ((TOKENIZER_CONFIG, _portable_tokenizer_config), (MODEL_CONFIG, _portable_model_config)):
        if name in saved:
            changes += [f"{name}: {c}" for c in fix(saved[name])]
    keys = ("tokenizer_class", "rope_theta") + (("model_input_names",) if model_type in TOKEN_TYPE_MODELS else ())
    important = [c for c in changes if any(k in c for k in keys)]
    if not important:
        return None
    return (
        f"{folder} does not load in the BabyLM pipeline's transformers 4.51.3 as it is ({'; '.join(important)} "
        "needed); `babyllama export RUN --format babylm` writes folders that do"
    )


def _rewrite(path: Path, fix) -> list[str]:
    data = json.loads(path.read_text(encoding="utf-8"))
    changes = fix(data)
    if changes:  # written beside, then renamed: a crash never leaves half a JSON file
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    return [f"{path.name}: {c}" for c in changes]


def _portable_tokenizer_config(data: dict) -> list[str]:
    changes = []
    if data.get("tokenizer_class") in _BACKEND_CLASSES - {PORTABLE_TOKENIZER_CLASS}:
        changes.append(f"tokenizer_class {data['tokenizer_class']} -> {PORTABLE_TOKENIZER_CLASS}")
        data["tokenizer_class"] = PORTABLE_TOKENIZER_CLASS
    for key in _LOAD_TIME_KEYS:
        if key in data:
            del data[key]
            changes.append(f"dropped {key}")
    if "model_input_names" not in data:
        data["model_input_names"] = list(MODEL_INPUT_NAMES)
        changes.append("model_input_names input_ids, attention_mask (4.x would add token_type_ids)")
    return changes


def _portable_model_config(data: dict) -> list[str]:
    changes = []
    rope = data.get("rope_parameters")
    # 4.x reads `rope_theta` / `rope_scaling` at the top level; without them it falls back to its
    # default theta (10000), which would silently change a model trained with another one.
    if isinstance(rope, dict) and "rope_theta" in rope and data.get("rope_theta") != rope["rope_theta"]:
        data["rope_theta"] = rope["rope_theta"]
        changes.append(f"rope_theta {rope['rope_theta']}")
        if rope.get("rope_type", "default") != "default" and "rope_scaling" not in data:
            data["rope_scaling"] = {k: v for k, v in rope.items() if k != "rope_theta"}
            changes.append("rope_scaling")
    if "dtype" in data and "torch_dtype" not in data:
        data["torch_dtype"] = data["dtype"]
        changes.append(f"torch_dtype {data['dtype']}")
    return changes
