"""core.bounds: the argparse type of numeric flags refuses text, non-finite values, a million
digits and values outside the range, each as an ArgumentTypeError (argparse: exit 2, no traceback)."""

from __future__ import annotations

import argparse

import pytest

from core import bounds


@pytest.mark.parametrize(
    "kind, text, message",
    [
        (int, "9" * 1_000_000, "expected a whole number"),  # int() refuses past 4300 digits
        (int, "1.5", "expected a whole number"),
        (float, "inf", "must be a finite number"),
        (float, "1" * 400, "must be a finite number"),  # float() of 400 digits is inf
        (int, "0", "must be >= 1, got 0"),
        (int, "2000000", "must be <= 1,048,576, got 2,000,000"),
    ],
)
def test_bad_values_are_argument_type_errors(kind, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        bounds.bounded(kind, 1, bounds.MAX_VOCAB)(text)


def test_values_in_range_come_back_parsed():
    assert bounds.bounded(int, 1, 10)("10") == 10
    assert bounds.bounded(float, 0.0, 0.5, lo_exclusive=False)("0.25") == 0.25
    with pytest.raises(argparse.ArgumentTypeError, match="must be > 0"):
        bounds.bounded(float, 0.0, 1.0, lo_exclusive=True)("0")
