"""core.bench.train_figures: `bench train`'s paired figures and the sides' names."""

from __future__ import annotations

import pytest

from core.bench.train_figures import SIDE_LABELS, paired_mfu, paired_ratio, side_label


def test_paired_mfu_divides_each_round_by_the_peak_measured_right_after_it():
    # peaks[0] is measured before round 1; round r pairs with peaks[r].
    side = {"round_tokens_per_s": [100.0, 100.0, 200.0]}
    assert paired_mfu(side, per_token=10, peaks=[1e9, 2000.0, 1000.0, 4000.0]) == pytest.approx(0.5)


def test_paired_ratio_is_the_median_of_the_rounds_ratios():
    ours = {"round_tokens_per_s": [300.0, 100.0, 250.0]}
    base = {"round_tokens_per_s": [100.0, 100.0, 100.0]}
    assert paired_ratio(ours, base) == pytest.approx(2.5)


def test_the_third_side_is_named_by_the_allocator_it_runs_with():
    assert side_label("ours", True) == SIDE_LABELS["ours"]
    assert side_label("ours_malloc", True) == "ours, glibc's default malloc"
    assert side_label("ours_malloc", False) == "ours, GLIBC_TUNABLES"
