"""core.bench.bench_data: the workspace's bench data is reused only when complete, and the quiet
block puts logging and progress bars back as they were."""

from __future__ import annotations

import logging

from core.bench.bench_data import BENCH_CORPUS, BENCH_TOKENIZER, has_bench_data, quiet


def test_bench_data_counts_only_with_both_the_corpus_and_the_tokenizer(workspace):
    assert not has_bench_data(workspace)
    (workspace.data_dir / BENCH_CORPUS).mkdir(parents=True)
    (workspace.data_dir / BENCH_CORPUS / "manifest.json").write_text("{}")
    assert not has_bench_data(workspace)
    workspace.tokenizer_dir(BENCH_TOKENIZER).mkdir(parents=True)
    (workspace.tokenizer_dir(BENCH_TOKENIZER) / "tokenizer.json").write_text("{}")
    assert has_bench_data(workspace)


def test_quiet_silences_then_restores():
    import datasets

    logger = logging.getLogger("core.tokenizer")
    level, bars = logger.level, datasets.is_progress_bar_enabled()
    logger.setLevel(logging.INFO)
    datasets.enable_progress_bars()
    try:
        with quiet():
            assert logger.level == logging.ERROR and not datasets.is_progress_bar_enabled()
        assert logger.level == logging.INFO and datasets.is_progress_bar_enabled()
    finally:
        logger.setLevel(level)
        (datasets.enable_progress_bars if bars else datasets.disable_progress_bars)()
