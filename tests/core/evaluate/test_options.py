"""core.evaluate.options: the eval options a job carries, and one error listing every bad option."""

from __future__ import annotations

import pytest

from core.errors import UserError
from core.evaluate.options import EvalOptions


def test_job_params_round_trip_and_unknown_keys_are_dropped():
    opts = EvalOptions(model="r1", suites="cloze, ppl", num_samples=3, exact=False)
    assert opts.suites == ("cloze", "ppl")
    raw = {**opts.to_dict(), "from_a_newer_version": 1}
    assert raw["suites"] == ["cloze", "ppl"]
    assert EvalOptions.from_dict(raw) == opts


def test_every_bad_option_is_listed_once_naming_its_flag(tmp_path):
    opts = EvalOptions(
        model="r1",
        suites=("cloze", "nope"),
        device="tpu",
        num_samples=-1,
        batch_size=0,
        pooling="middle",
        revision="a/b",
        cloze_file=str(tmp_path / "missing.jsonl"),
    )
    with pytest.raises(UserError) as err:
        opts.check()
    text = str(err.value)
    assert text.startswith("7 problem(s) with the eval options:")
    for flag in (
        "--suite: unknown suite 'nope'",
        "--device",
        "--num-samples",
        "--batch-size",
        "--pooling",
        "--revision",
        "--cloze-file",
    ):
        assert flag in text, flag


def test_good_options_pass():
    EvalOptions(model="r1", suites=("cloze",), temperatures="1,1.5").check()
