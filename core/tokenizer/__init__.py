"""Tokenizers: training byte-level BPE (`train`), a saved tokenizer folder found, loaded and described
(`saved`), and how a tokenizer splits text (`inspection`). The names below are the package's public
API. Must not import gradio, studio or core.data.
"""

from core.tokenizer.inspection import CorpusStats, TextInspection, corpus_stats, inspect_text, sample_lines
from core.tokenizer.saved import (
    META_FILE,
    MIN_VOCAB,
    SPECIAL_KWARGS,
    SPECIAL_TOKENS,
    TOKENIZER_FILE,
    adds_bos,
    load_tokenizer,
    read_meta,
    resolve_tokenizer,
    tokenizer_hash,
    vocab_size_of,
)
from core.tokenizer.train import (
    TEXT_SUFFIXES,
    TrainResult,
    default_name,
    resolve_source,
    safe_name,
    train_tokenizer,
    training_files,
)

__all__ = [
    "META_FILE",
    "MIN_VOCAB",
    "SPECIAL_KWARGS",
    "SPECIAL_TOKENS",
    "TEXT_SUFFIXES",
    "TOKENIZER_FILE",
    "CorpusStats",
    "TextInspection",
    "TrainResult",
    "adds_bos",
    "corpus_stats",
    "default_name",
    "inspect_text",
    "load_tokenizer",
    "read_meta",
    "resolve_source",
    "resolve_tokenizer",
    "safe_name",
    "sample_lines",
    "tokenizer_hash",
    "train_tokenizer",
    "training_files",
    "vocab_size_of",
]
