"""Training a tokenizer: byte-level BPE on a corpus's text files, saved atomically as a transformers
folder plus `babyllama_tokenizer.json` (provenance), and the names it gets.
Must not import gradio, studio or core.data; transformers and tokenizers are imported inside functions.

Special tokens `<pad> <s> </s> <unk>` are ids 0-3. New tokenizers start every encoded text with `<s>`
(a template post-processor; `--no-bos` for none), so the BabyLM pipeline scores first words as we
and lm-eval do (docs/evaluation.md); `saved.adds_bos` tells old tokenizers from new.
"""

from __future__ import annotations

import codecs
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from core.bounds import MAX_VOCAB
from core.errors import UserError
from core.portable import make_portable
from core.tokenizer.saved import (
    META_FILE,
    MIN_VOCAB,
    SPECIAL_KWARGS,
    SPECIAL_TOKENS,
    TOKENIZER_FILE,
    looks_like_name,
    tokenizer_hash,
)
from core.workspace import Workspace

log = logging.getLogger(__name__)


TEXT_SUFFIXES = (".txt", ".train", ".text")  # the guide's custom corpora use `*.train`


@dataclass
class TrainResult:
    """What `train_tokenizer` made: where, how big, from what, and any warnings."""

    out_dir: Path
    vocab_size_requested: int
    vocab_size: int
    min_frequency: int
    files: int
    bytes: int
    sha256: str
    seconds: float
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {**asdict(self), "out_dir": str(self.out_dir)}


def training_files(source: str | os.PathLike | Sequence[str | os.PathLike]) -> list[Path]:
    """Text files to read from a prepared corpus (its `train/`), a folder, a file or a list of them."""
    if isinstance(source, (list, tuple)):
        return [f for item in source for f in training_files(item)]
    path = Path(source).expanduser()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise UserError(f"corpus {str(path)!r} not found: pass a corpus name, a folder or a text file")
    root = path / "train" if (path / "train").is_dir() else path  # prepared corpora: train split only
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix.lower() in TEXT_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise UserError(
            f"corpus {str(path)!r} has no text files ({', '.join(TEXT_SUFFIXES)}) in "
            f"{str(root)!r}: add some or prepare the corpus first"
        )
    return files


def resolve_source(name_or_path: str, workspace: Workspace | None = None) -> Path:
    """A workspace corpus name -> `<ws>/data/<name>`; otherwise an existing file or folder path."""
    ws = workspace or Workspace.resolve()
    if looks_like_name(name_or_path) and ws.corpus_dir(name_or_path).is_dir():
        return ws.corpus_dir(name_or_path)
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    raise UserError(
        f"corpus {name_or_path!r}: no corpus of that name in {ws.data_dir} and no such file "
        "or folder (fix: prepare one with `babyllama data ...`, or pass a folder of .txt files)"
    )


def _scan_text(files: list[Path]) -> int:
    """Total bytes; raise if a file is not UTF-8 or the files hold no text at all."""
    total, has_text = 0, False
    for path in files:
        decoder = codecs.getincrementaldecoder("utf-8")()
        with path.open("rb") as handle:
            try:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    total += len(chunk)
                    text = decoder.decode(chunk)
                    has_text = has_text or bool(text.strip())
                decoder.decode(b"", final=True)
            except UnicodeDecodeError as err:
                raise UserError(f"{path}: not UTF-8 text ({err.reason} near byte {total}): re-encode it") from err
    if not has_text:
        raise UserError(f"corpus is empty: {len(files)} file(s) with no text; add text before training")
    return total


def train_tokenizer(
    files_or_corpus_dir: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    vocab_size: int = 16000,
    min_frequency: int = 2,
    progress: bool = True,
    add_bos: bool = True,
) -> TrainResult:
    """Train byte-level BPE and save a transformers tokenizer folder at `out_dir` (must not exist).

    With `add_bos` (the default) the tokenizer starts every text with `<s>`, so the first word of a
    sentence is scored the same way by us, the BabyLM pipeline and lm-eval (see `adds_bos`)."""
    if vocab_size < MIN_VOCAB:
        raise UserError(f"vocab_size {vocab_size} is too small: it must be at least {MIN_VOCAB} (256 bytes + 4 special tokens)")
    if vocab_size > MAX_VOCAB:  # the Rust BPE trainer panics (an abort, no exception) near 2**31
        raise UserError(
            f"vocab_size {vocab_size:,} is too large: at most {MAX_VOCAB:,} (the model's embedding "
            "table is vocab x hidden; BabyLM models use 8k to 32k)"
        )
    if min_frequency < 1:
        raise UserError(f"min_frequency {min_frequency} must be at least 1")
    out_dir = Path(out_dir).expanduser()
    _refuse_taken(out_dir)
    files = training_files(files_or_corpus_dir)
    total_bytes = _scan_text(files)

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    started = time.perf_counter()
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # Untrimmed offsets: each token's span includes its leading space, so spans tile the text.
    byte_level = processors.ByteLevel(add_prefix_space=False, trim_offsets=False)
    if add_bos:
        # `<s>` (id 1) before every text encoded with special tokens, offsets (0, 0): the BabyLM
        # pipeline then conditions a sentence's first word on it instead of skipping that word.
        bos = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", SPECIAL_TOKENS.index("<s>"))]
        )
        tok.post_processor = processors.Sequence([byte_level, bos])
    else:
        tok.post_processor = byte_level
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=progress,
    )
    tok.train([str(f) for f in files], trainer)
    reached = tok.get_vocab_size()

    warnings = []
    if reached < vocab_size:  # the trainer ran out of pairs seen min_frequency times
        warnings.append(
            f"vocab_size {vocab_size} is more than this corpus supports: reached {reached} "
            f"(use a larger corpus, a lower min_frequency, or --vocab-size {reached})"
        )
        log.warning(warnings[-1])
    meta = {
        "source": describe_source(files_or_corpus_dir),
        "files": len(files),
        "bytes": total_bytes,
        "vocab_size_requested": vocab_size,
        "vocab_size": reached,
        "min_frequency": min_frequency,
        "adds_bos": add_bos,
        "special_tokens": {t: i for i, t in enumerate(SPECIAL_TOKENS)},
    }
    sha = _save_atomically(tok, out_dir, meta)
    return TrainResult(
        out_dir,
        vocab_size,
        reached,
        min_frequency,
        len(files),
        total_bytes,
        sha,
        round(time.perf_counter() - started, 3),
        warnings,
    )


def _save_atomically(tok, out_dir: Path, meta: dict) -> str:
    """Write everything into a hidden temp folder beside `out_dir`, then rename it into place."""
    from transformers import PreTrainedTokenizerFast

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.parent / f".{out_dir.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL_KWARGS)
        wrapped.save_pretrained(str(tmp))
        if not (tmp / TOKENIZER_FILE).is_file():  # older/newer transformers may skip it
            tok.save(str(tmp / TOKENIZER_FILE))
        make_portable(tmp)  # loads in the BabyLM pipeline's transformers 4.51.3 too
        sha = tokenizer_hash(tmp)
        meta = {**meta, "tokenizer_sha256": sha, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        _refuse_taken(out_dir)  # someone may have taken the name while we trained
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sha


def _refuse_taken(out_dir: Path) -> None:
    if out_dir.exists():
        raise UserError(
            f"tokenizer {out_dir.name!r} already exists at {out_dir}: pick another --name, "
            "or delete that folder first (nothing was changed)"
        )


def describe_source(source) -> str | list[str]:
    if isinstance(source, (list, tuple)):
        return [str(Path(s).resolve()) for s in source]
    return str(Path(source).resolve())


def safe_name(label: str) -> str:
    """`label` with characters a workspace name can't hold replaced by '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-._") or "corpus"


def default_name(label: str, vocab_size: int) -> str:
    """`<corpus>-bpe<vocab>`: the default tokenizer name."""
    return f"{safe_name(label)}-bpe{vocab_size}"
