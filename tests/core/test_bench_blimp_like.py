"""core.bench.blimp_like: the BLiMP-like pairs `bench eval` generates when no --pairs-dir is given."""

from __future__ import annotations

import json

from core.bench import blimp_like
from core.evaluate import pairs


def test_pairs_are_short_blimp_files_differing_in_one_or_two_words(tmp_path):
    folder = blimp_like.write_pairs(tmp_path / "pairs", pairs=30, seed=1)
    paradigms = pairs.load_pairs_dir(folder)
    assert sorted(p.name for p in paradigms) == sorted(blimp_like.CHANGES)
    for p in paradigms:
        assert len(p.pairs) == 30
        for good, bad in p.pairs:
            g, b = good.split(), bad.split()
            assert good != bad and blimp_like.MIN_WORDS - 1 <= len(b) <= blimp_like.MAX_WORDS + 1
            assert blimp_like.MIN_WORDS <= len(g) <= blimp_like.MAX_WORDS
            if len(g) == len(b):  # swaps and replacements: one or two words differ
                assert 1 <= sum(x != y for x, y in zip(g, b)) <= 2 or p.name == "swap_two"
            else:
                # drop / repeat, or a swap of two equal words dropped one instead
                assert len(b) - len(g) == (1 if p.name == "repeat_word" else -1)
    row = json.loads((folder / "swap_adjacent.jsonl").read_text().splitlines()[0])
    assert set(row) == {"sentence_good", "sentence_bad", "field", "UID", "linguistics_term"}
    assert (
        blimp_like.write_pairs(tmp_path / "again", pairs=30, seed=1).joinpath("drop_word.jsonl").read_text()
        == (folder / "drop_word.jsonl").read_text()
    )  # seeded: the same files
