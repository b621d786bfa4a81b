"""Tokenizers: train byte-level BPE on a corpus, find and load saved ones, measure how they split text.

A trained tokenizer is a transformers tokenizer folder (`AutoTokenizer.from_pretrained` loads it)
plus `babyllama_tokenizer.json` (provenance). Must not import gradio, studio or core.data;
transformers and tokenizers are imported inside functions so cheap helpers stay cheap.
"""
from __future__ import annotations

import codecs
import json
import logging
import os
import random
import re
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from core.bounds import MAX_VOCAB
from core.errors import UserError
from core.hashing import sha256_file
from core.portable import make_portable
from core.workspace import Workspace

log = logging.getLogger(__name__)

# Order fixes the ids: pad=0, bos=1, eos=2, unk=3 (models and the data pipeline rely on them).
SPECIAL_TOKENS = ("<pad>", "<s>", "</s>", "<unk>")
SPECIAL_KWARGS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
MIN_VOCAB = 256 + len(SPECIAL_TOKENS)  # every byte plus the special tokens
META_FILE = "babyllama_tokenizer.json"
TOKENIZER_FILE = "tokenizer.json"
TEXT_SUFFIXES = (".txt", ".train", ".text")  # the guide's custom corpora use `*.train`
_TRAIN_HINT = "train one with `babyllama tokenizer train --data N --name TOK`"


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


@dataclass
class TextInspection:
    """How one text splits: vocab strings, ids, char offsets, text pieces (they join back to the
    text), and ratios."""

    tokens: list[str]
    ids: list[int]
    offsets: list[tuple[int, int]]
    pieces: list[str]
    words: int
    fertility: float  # tokens per whitespace-separated word
    bytes_per_token: float
    unknown_rate: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CorpusStats:
    """Ratios measured on a sample of corpus lines (see `corpus_stats`)."""

    lines: int
    words: int
    tokens: int
    bytes: int
    fertility: float
    bytes_per_token: float
    unknown_rate: float
    coverage: float  # share of pre-tokenized words that are one token

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- training
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
        p for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise UserError(f"corpus {str(path)!r} has no text files ({', '.join(TEXT_SUFFIXES)}) in "
                        f"{str(root)!r}: add some or prepare the corpus first")
    return files


def resolve_source(name_or_path: str, workspace: Workspace | None = None) -> Path:
    """A workspace corpus name -> `<ws>/data/<name>`; otherwise an existing file or folder path."""
    ws = workspace or Workspace.resolve()
    if _looks_like_name(name_or_path) and ws.corpus_dir(name_or_path).is_dir():
        return ws.corpus_dir(name_or_path)
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    raise UserError(f"corpus {name_or_path!r}: no corpus of that name in {ws.data_dir} and no such file "
                    "or folder (fix: prepare one with `babyllama data ...`, or pass a folder of .txt files)")


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
        raise UserError(f"vocab_size {vocab_size} is too small: it must be at least {MIN_VOCAB} "
                        "(256 bytes + 4 special tokens)")
    if vocab_size > MAX_VOCAB:  # the Rust BPE trainer panics (an abort, no exception) near 2**31
        raise UserError(f"vocab_size {vocab_size:,} is too large: at most {MAX_VOCAB:,} (the model's embedding "
                        "table is vocab x hidden; BabyLM models use 8k to 32k)")
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
        bos = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B:1",
                                            special_tokens=[("<s>", SPECIAL_TOKENS.index("<s>"))])
        tok.post_processor = processors.Sequence([byte_level, bos])
    else:
        tok.post_processor = byte_level
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=progress)
    tok.train([str(f) for f in files], trainer)
    reached = tok.get_vocab_size()

    warnings = []
    if reached < vocab_size:  # the trainer ran out of pairs seen min_frequency times
        warnings.append(f"vocab_size {vocab_size} is more than this corpus supports: reached {reached} "
                        f"(use a larger corpus, a lower min_frequency, or --vocab-size {reached})")
        log.warning(warnings[-1])
    meta = {"source": _describe_source(files_or_corpus_dir), "files": len(files), "bytes": total_bytes,
            "vocab_size_requested": vocab_size, "vocab_size": reached, "min_frequency": min_frequency,
            "adds_bos": add_bos,
            "special_tokens": {t: i for i, t in enumerate(SPECIAL_TOKENS)}}
    sha = _save_atomically(tok, out_dir, meta)
    return TrainResult(out_dir, vocab_size, reached, min_frequency, len(files), total_bytes, sha,
                       round(time.perf_counter() - started, 3), warnings)


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
        raise UserError(f"tokenizer {out_dir.name!r} already exists at {out_dir}: pick another --name, "
                        "or delete that folder first (nothing was changed)")


def _describe_source(source) -> str | list[str]:
    if isinstance(source, (list, tuple)):
        return [str(Path(s).resolve()) for s in source]
    return str(Path(source).resolve())


def safe_name(label: str) -> str:
    """`label` with characters a workspace name can't hold replaced by '-'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-._") or "corpus"


def default_name(label: str, vocab_size: int) -> str:
    """`<corpus>-bpe<vocab>`: the default tokenizer name."""
    return f"{safe_name(label)}-bpe{vocab_size}"


# --------------------------------------------------------------------------- finding & loading
def _looks_like_name(text: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", text)) and ".." not in text \
        and not text.endswith(".json")


def resolve_tokenizer(path_or_name: str | os.PathLike, workspace: Workspace | None = None) -> Path:
    """A workspace tokenizer name, a folder with tokenizer.json, or a bare tokenizer .json file."""
    text = str(path_or_name)
    ws = workspace or Workspace.resolve()
    if _looks_like_name(text) and (ws.tokenizers_dir / text / TOKENIZER_FILE).is_file():
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
    raise UserError(f"no tokenizer {text!r}: not a name in {ws.tokenizers_dir} nor a tokenizer folder "
                    f"or .json file (fix: {_TRAIN_HINT})")


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


# --------------------------------------------------------------------------- measuring
def _backend(tokenizer):
    """The raw `tokenizers.Tokenizer` behind a transformers tokenizer (or itself)."""
    return getattr(tokenizer, "backend_tokenizer", tokenizer)


def inspect_text(tokenizer, text: str) -> TextInspection:
    """Split `text` (no special tokens added) and report fertility and bytes per token."""
    backend = _backend(tokenizer)
    enc = backend.encode(text, add_special_tokens=False)
    unk = backend.token_to_id("<unk>")
    n_tokens, words = len(enc.ids), len(text.split())
    return TextInspection(
        tokens=list(enc.tokens),
        ids=list(enc.ids),
        offsets=[tuple(o) for o in enc.offsets],
        pieces=_tiling_pieces(text, enc.offsets),
        words=words,
        fertility=n_tokens / words if words else 0.0,
        bytes_per_token=len(text.encode("utf-8")) / n_tokens if n_tokens else 0.0,
        unknown_rate=(enc.ids.count(unk) / n_tokens) if n_tokens and unk is not None else 0.0,
    )


def _tiling_pieces(text: str, offsets) -> list[str]:
    # Byte tokens of one multi-byte character share its span: give the character to the first
    # of them and "" to the rest, so the pieces join back to exactly the text (for colouring).
    pieces, end = [], 0
    for start, stop in offsets:
        pieces.append(text[max(start, end):stop])
        end = max(end, stop)
    return pieces


def sample_lines(files: Iterable[Path], max_lines: int = 2000, seed: int = 0) -> list[str]:
    """Up to `max_lines` non-blank lines drawn uniformly from all files (seeded reservoir sampling)."""
    rng, sample, seen = random.Random(seed), [], 0
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                seen += 1
                if len(sample) < max_lines:
                    sample.append(line)
                elif (j := rng.randrange(seen)) < max_lines:
                    sample[j] = line
    return sample


def corpus_stats(tokenizer, corpus_dir_or_files, max_lines: int = 2000, seed: int = 0) -> CorpusStats:
    """Fertility, bytes/token, unknown rate and single-token word coverage on a line sample."""
    if max_lines < 1:
        raise UserError(f"--max-lines: {max_lines} must be at least 1 (lines of the corpus sampled)")
    lines = sample_lines(training_files(corpus_dir_or_files), max_lines, seed)
    if not lines:
        raise UserError(f"corpus {_describe_source(corpus_dir_or_files)!r} has no text lines to measure")
    backend = _backend(tokenizer)
    unk = backend.token_to_id("<unk>")
    encodings = backend.encode_batch(lines, add_special_tokens=False)
    tokens = unknown = words = pre_words = single = 0
    for line, enc in zip(lines, encodings):
        tokens += len(enc.ids)
        unknown += enc.ids.count(unk) if unk is not None else 0
        words += len(line.split())
        # Coverage counts the tokenizer's own words (pre-tokenizer pieces, e.g. " king" and ","):
        # BPE never merges across them, so whitespace words with punctuation could never be one token.
        per_word: dict[int, list[tuple[int, int]]] = {}
        for word_id, offset in zip(enc.word_ids, enc.offsets):
            if word_id is not None:
                per_word.setdefault(word_id, []).append(offset)
        for spans in per_word.values():
            if line[spans[0][0]:spans[-1][1]].strip():  # skip runs of bare whitespace
                pre_words += 1
                single += len(spans) == 1
    n_bytes = sum(len(line.encode("utf-8")) for line in lines)
    return CorpusStats(
        lines=len(lines), words=words, tokens=tokens, bytes=n_bytes,
        fertility=tokens / words if words else 0.0,
        bytes_per_token=n_bytes / tokens if tokens else 0.0,
        unknown_rate=unknown / tokens if tokens else 0.0,
        coverage=single / pre_words if pre_words else 0.0,
    )
