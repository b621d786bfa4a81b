"""The data every training bench runs on: a synthetic corpus and BPE tokenizer (`bench-syn`,
`bench-tok`), reused from the workspace when there, and the token blocks `bench train` saves for
its sides. Must not import gradio."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from core import config as config_mod
from core.errors import UserError
from core.workspace import Workspace

BENCH_CORPUS, BENCH_TOKENIZER = "bench-syn", "bench-tok"
CORPUS_WORDS = 100_000  # about 1k blocks of 128 tokens: data order never repeats within a short bench


def has_bench_data(ws: Workspace) -> bool:
    return (ws.data_dir / BENCH_CORPUS / "manifest.json").is_file() and (
        ws.tokenizers_dir / BENCH_TOKENIZER / "tokenizer.json"
    ).is_file()


@contextmanager
def quiet():
    """No progress bars and no 'vocab_size is more than this corpus supports' warning: the bench
    reports the vocabulary it uses itself."""
    import datasets

    logger = logging.getLogger("core.tokenizer")
    level, bars = logger.level, datasets.is_progress_bar_enabled()
    logger.setLevel(logging.ERROR)
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        logger.setLevel(level)
        if bars:
            datasets.enable_progress_bars()


def prepare_data(cfg, ws: Workspace, tmp: Path, batch_size: int, seq_length: int, vocab_size: int):
    """Token blocks saved to tmp/blocks.pt; returns (config with the model's vocab, tokenizer folder,
    tokenizer vocab). Reuses the workspace's bench-syn + bench-tok, else makes them in `tmp`."""
    import torch

    from core.data.synthetic import create_synthetic_corpus
    from core.tokenizer import train_tokenizer
    from core.train.data import load_train_data

    with quiet():
        if not has_bench_data(ws):
            # "complex" has the most words, yet BPE still stops near 1k tokens: the model's
            # vocab is then set to vocab_size, leaving unused rows (same FLOPs, same memory).
            ws = Workspace(tmp / "workspace").ensure()
            corpus = create_synthetic_corpus(ws, BENCH_CORPUS, CORPUS_WORDS, "complex", seed=cfg.training.seed)
            train_tokenizer(corpus / "train", ws.tokenizer_dir(BENCH_TOKENIZER), vocab_size, progress=False)
        cfg = config_mod.load(
            base=cfg.to_dict(), overrides=[f"data.train_path={BENCH_CORPUS}", f"data.tokenizer_path={BENCH_TOKENIZER}"]
        )
        data, tokenizer = load_train_data(cfg, ws)
    if len(data.train) < batch_size:
        raise UserError(
            f"bench: {len(data.train)} blocks of {seq_length} tokens is fewer than one batch "
            f"({batch_size}); lower --batch-size or --seq-length"
        )
    torch.save(data.train, tmp / "blocks.pt")
    vocab = max(vocab_size, len(tokenizer))
    cfg = replace(cfg, model=replace(cfg.model, vocab_size=vocab))
    return cfg, ws.tokenizer_dir(BENCH_TOKENIZER), len(tokenizer)
