"""A saved tokenizer: the files of its folder, finding it by workspace name or path, loading it,
its hash (the token-cache key), vocabulary size, provenance and whether it adds `<s>`.
Must not import gradio, studio or core.data; transformers is imported inside functions.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from core.errors import UserError
from core.hashing import sha256_file
from core.workspace import Workspace

# Order fixes the ids: pad=0, bos=1, eos=2, unk=3 (models and the data pipeline rely on them).
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")
SPECIAL_KWARGS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
MIN_VOCAB = 256 + len(SPECIAL_TOKENS)  # every byte plus the special tokens
META_FILE = "babyllama_tokenizer.json"
TOKENIZER_FILE = "tokenizer.json"
_TRAIN_HINT = "train one with `babyllama tokenizer train --data N --name TOK`"


def looks_like_name(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", text)) and ".." not in text and not text.endswith(".json")


def resolve_tokenizer(path_or_name: str | os.PathLike, workspace: Workspace | None = None) -> Path:
    """A workspace tokenizer name, a folder with tokenizer.json, or a bare tokenizer .json file."""
    text = str(path_or_name)
    ws = workspace or Workspace.resolve()
    if looks_like_name(text) and (ws.tokenizers_dir / text / TOKENIZER_FILE).is_file():
        return ws.tokenizers_dir / text
    path = Path(text).expanduser()
    if path.is_dir():
        if (path / TOKENIZER_FILE).is_file():
            return path
        raise UserError(f"tokenizer folder {text!r} has no {TOKENIZER_FILE}: {_TRAIN_HINT}")
    if path.is_file():
        if path.suffix.lower() == ".json":
            return path
        raise UserError(f"tokenizer {text!r} is not a .json file or a tokenizer folder: {_TRAIN_HINT}")
    raise UserError(
        f"no tokenizer {text!r}: not a name in {ws.tokenizers_dir} nor a tokenizer folder or .json file (fix: {_TRAIN_HINT})"
    )


def _json_file(tok_path: str | os.PathLike) -> Path:
    path = Path(tok_path)
    return path / TOKENIZER_FILE if path.is_dir() else path


def tokenizer_hash(tok_dir: str | os.PathLike) -> str:
    """sha256 of the tokenizer.json (a folder or the file itself): the token-cache key."""
    return sha256_file(_json_file(tok_dir))


def vocab_size_of(path_or_name: str | os.PathLike, workspace: Workspace | None = None) -> int:
    """Embedding rows a model needs for this tokenizer (highest id + 1), read from tokenizer.json."""
    path = _json_file(resolve_tokenizer(path_or_name, workspace))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        ids = list(data["model"]["vocab"].values()) + [t["id"] for t in data.get("added_tokens") or []]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise UserError(f"{path}: not a tokenizers BPE tokenizer.json ({err}): {_TRAIN_HINT}") from err
    if not ids:
        raise UserError(f"{path}: the tokenizer has an empty vocabulary: {_TRAIN_HINT}")
    return max(ids) + 1


def load_tokenizer(path_or_name: str | os.PathLike, workspace: Workspace | None = None):
    """A `PreTrainedTokenizerFast` for a workspace name, a tokenizer folder or a bare tokenizer.json."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    path = resolve_tokenizer(path_or_name, workspace)
    try:
        if path.is_dir() and (path / "tokenizer_config.json").is_file():
            return AutoTokenizer.from_pretrained(str(path))
        from tokenizers import Tokenizer

        raw = Tokenizer.from_file(str(_json_file(path)))
    except Exception as err:  # tokenizers raises a bare Exception on bad JSON; OSError, ValueError too
        raise UserError(f"tokenizer {str(path)!r} could not be loaded ({err}): {_TRAIN_HINT}") from err
    # A bare tokenizer.json carries no special-token roles: give ours those it actually contains.
    present = {k: v for k, v in SPECIAL_KWARGS.items() if raw.token_to_id(v) is not None}
    return PreTrainedTokenizerFast(tokenizer_object=raw, **present)


def adds_bos(tokenizer) -> bool:
    """Whether the tokenizer puts its BOS first when it encodes a text with special tokens.

    Tokenizers trained here since the BabyLM mode do (`<s>`); older ones and GPT-2's do not. It
    decides the training layout (each document starts with BOS when it does) and whether the
    BabyLM pipeline scores a sentence's first token."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return False
    ids = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(ids) and ids[0] == bos


def read_meta(tok_dir: str | os.PathLike) -> dict:
    """The `babyllama_tokenizer.json` beside a tokenizer, or {} for one trained elsewhere."""
    meta = Path(tok_dir) / META_FILE
    if not meta.is_file():
        return {}
    try:
        return json.loads(meta.read_text(encoding="utf-8"))
    except ValueError:
        return {}
