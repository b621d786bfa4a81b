"""Corpora: synthetic text, BabyLM folders, custom sources, cleaning, stats and token datasets.

The light functions are imported here; `build_token_dataset` / `token_dataset_meta` load lazily
because they pull in datasets and transformers. Never imports gradio or studio.
"""

from __future__ import annotations

from core.data.babylm import prepare_corpus
from core.data.cleaning import clean, get_cleaner, register_cleaner
from core.data.corpus import corpus_stats, list_corpora, read_manifest
from core.data.synthetic import create_synthetic_corpus, generate_documents

__all__ = [
    "build_token_dataset",
    "clean",
    "corpus_stats",
    "create_synthetic_corpus",
    "generate_documents",
    "get_cleaner",
    "list_corpora",
    "prepare_corpus",
    "read_manifest",
    "register_cleaner",
    "token_dataset_meta",
]


def __getattr__(name: str):
    # Lazy: `import core.data` stays fast for the CLI; datasets/transformers load on first use.
    if name in ("build_token_dataset", "token_dataset_meta"):
        from core.data import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'core.data' has no attribute {name!r}")
