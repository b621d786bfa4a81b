"""Token datasets for training: tokenize a corpus split, add EOS after each document (and BOS before
it when the tokenizer adds one), chunk into fixed `seq_length` blocks and cache on disk, keyed by
corpus hash + tokenizer hash + length + split.

Imports datasets and transformers (heavy: keep it out of `core.data` imports); never gradio or studio.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

from core.data.corpus import SPLITS, read_manifest
from core.errors import UserError
from core.hashing import sha256_file

CACHE_VERSION = 1  # bump when the token layout changes, so old caches are not reused
META = "meta.json"


def cache_dir_for(corpus_dir, split: str, tokenizer_dir, seq_length: int, cache_root=None) -> Path:
    """Where the token dataset for these inputs lives (it may not exist yet)."""
    corpus_dir, tokenizer_dir = Path(corpus_dir), Path(tokenizer_dir)
    if split not in SPLITS:
        raise UserError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    if int(seq_length) < 2:
        raise UserError(f"seq_length: {seq_length} is too small; use at least 2 (typically 128 to 1024)")
    tokenizer_json = tokenizer_dir / "tokenizer.json"
    if not tokenizer_json.is_file():
        raise UserError(
            f"{tokenizer_dir}: not a tokenizer folder (no tokenizer.json); train one with `babyllama tokenizer train`"
        )
    corpus_hash = read_manifest(corpus_dir)["sha256"]
    parts = f"v{CACHE_VERSION}|{corpus_hash}|{sha256_file(tokenizer_json)}|{int(seq_length)}|{split}"
    key = hashlib.sha256(parts.encode()).hexdigest()[:20]
    return Path(cache_root or corpus_dir / "cache") / key


def _read_lines(files: list[str]):
    """One row per line, `start` on a document's first line; an empty row marks a document end
    (a blank line or the end of a file)."""
    for name in files:
        blank = True
        with open(name, encoding="utf-8") as handle:
            for line in handle:
                line = line.rstrip("\n")
                if line.strip():
                    yield {"text": line, "start": blank}
                    blank = False
                elif not blank:
                    blank = True
                    yield {"text": "", "start": False}
        if not blank:
            yield {"text": "", "start": False}


def _tokenize(batch, tokenizer, eos_id: int, bos_id: int | None):
    # Lines keep their newline so the model sees sentence breaks; EOS closes each document. A
    # tokenizer that starts texts with BOS gets it before each document too: the model then
    # learns a first word after BOS, which is how the BabyLM pipeline and lm-eval score it.
    lines = [t for t in batch["text"] if t]
    encoded = iter(tokenizer([t + "\n" for t in lines], add_special_tokens=False)["input_ids"]) if lines else iter(())
    ids = [
        ([bos_id] if start and bos_id is not None else []) + next(encoded) if t else [eos_id]
        for t, start in zip(batch["text"], batch["start"])
    ]
    return {"input_ids": ids, "n_tokens": [len(i) for i in ids], "n_words": [len(t.split()) for t in batch["text"]]}


def _chunk(batch, seq_length: int):
    flat = [token for ids in batch["input_ids"] for token in ids]
    usable = len(flat) - len(flat) % seq_length  # the remainder of each batch is dropped
    return {"input_ids": [flat[i : i + seq_length] for i in range(0, usable, seq_length)]}


def build_token_dataset(corpus_dir, split: str, tokenizer_dir, seq_length: int, cache_root=None, num_proc: int | None = None):
    """A `datasets.Dataset` of `input_ids` rows, each exactly `seq_length` tokens, for one split.

    Built once per (corpus content, tokenizer, seq_length, split) and saved under
    `<corpus>/cache/<key>/` with `meta.json` (n_tokens, n_words, n_sequences); later calls just
    memory-map it with `load_from_disk`. `num_proc` > 1 tokenizes in parallel (1 is faster on
    small corpora and 2 cores).
    """
    from datasets import load_from_disk

    target = cache_dir_for(corpus_dir, split, tokenizer_dir, seq_length, cache_root)
    if (target / META).is_file():
        return load_from_disk(str(target))
    files = sorted(str(p) for p in (Path(corpus_dir) / split).glob("*.txt"))
    if not files:
        raise UserError(
            f"{corpus_dir}: the {split} split has no text files; prepare the corpus again or add a dev part to the source"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        meta = _build(files, work, Path(tokenizer_dir), int(seq_length), num_proc, target.name)
        meta.update(
            split=split,
            seq_length=int(seq_length),
            corpus=str(corpus_dir),
            corpus_sha256=read_manifest(corpus_dir)["sha256"],
            tokenizer=str(tokenizer_dir),
        )
        (work / "out" / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if not target.exists():  # another process may have finished first: theirs is identical
            os.replace(work / "out", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return load_from_disk(str(target))


def _build(files: list[str], work: Path, tokenizer_dir: Path, seq_length: int, num_proc, key: str) -> dict:
    import pyarrow.compute as pc
    from datasets import Dataset
    from transformers import AutoTokenizer

    from core.tokenizer import adds_bos

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    if tokenizer.eos_token_id is None:
        raise UserError(f"{tokenizer_dir}: the tokenizer has no eos_token; retrain it with one (e.g. </s>)")
    procs = num_proc if num_proc and num_proc > 1 else None
    # Our own cache_dir and fingerprints: nothing lands in $HF_HOME, and no stale reuse there.
    lines = Dataset.from_generator(
        _read_lines, gen_kwargs={"files": files}, cache_dir=str(work / "raw"), fingerprint=f"{key}-lines"
    )
    bos_id = tokenizer.bos_token_id if adds_bos(tokenizer) else None
    tokens = lines.map(
        _tokenize,
        batched=True,
        remove_columns=["text", "start"],
        num_proc=procs,
        fn_kwargs={"tokenizer": tokenizer, "eos_id": tokenizer.eos_token_id, "bos_id": bos_id},
        cache_file_name=str(work / "tokens.arrow"),
        new_fingerprint=f"{key}-tokens",
        desc="Tokenizing",
    )
    n_tokens = pc.sum(tokens.data.column("n_tokens")).as_py() or 0
    n_words = pc.sum(tokens.data.column("n_words")).as_py() or 0
    # Chunking stays in one process: shards would move block boundaries (results must not
    # depend on num_proc), and it is cheap next to tokenizing.
    blocks = tokens.map(
        _chunk,
        batched=True,
        batch_size=10_000,
        remove_columns=tokens.column_names,
        fn_kwargs={"seq_length": seq_length},
        cache_file_name=str(work / "blocks.arrow"),
        new_fingerprint=f"{key}-blocks",
        desc=f"Chunking into {seq_length}-token blocks",
    )
    if len(blocks) == 0:
        raise UserError(
            f"only {n_tokens} tokens in {', '.join(files)}: fewer than one block of "
            f"seq_length={seq_length}; lower seq_length or add text"
        )
    blocks.save_to_disk(str(work / "out"))
    return {
        "n_tokens": n_tokens,
        "n_words": n_words,
        "n_sequences": len(blocks),
        "dropped_tokens": n_tokens - len(blocks) * seq_length,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def token_dataset_meta(corpus_dir, split: str, tokenizer_dir, seq_length: int, cache_root=None) -> dict:
    """meta.json of the cached token dataset (n_tokens, n_words, n_sequences...), building it if needed."""
    target = cache_dir_for(corpus_dir, split, tokenizer_dir, seq_length, cache_root)
    if not (target / META).is_file():
        build_token_dataset(corpus_dir, split, tokenizer_dir, seq_length, cache_root)
    return json.loads((target / META).read_text(encoding="utf-8"))
