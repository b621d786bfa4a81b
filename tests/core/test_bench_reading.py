"""core.bench.reading: BabyLM reading batched vs the official row loop, agreement or no ratio."""

from __future__ import annotations

import math

import pytest

from core.bench import reading as bench
from core.evaluate.babylm import reading
from tests.core.evaluate import babylm_fixtures as fx
from tests.core.evaluate.test_babylm_reading import SENTENCES, write_reading_csv


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    tok = fx.make_tokenizer(tmp_path_factory.mktemp("tok"), add_bos=True)
    return fx.make_model(len(tok)), tok


def test_batched_and_official_agree_and_give_a_ratio(tmp_path, lm):
    model, tok = lm
    data = reading.read_reading(write_reading_csv(tmp_path / "reading_data.csv"))
    out = bench.bench_reading(model, tok, data, batch_size=16, rounds=1)
    assert out["agree"] and out["same_report"] and out["max_surprisal_diff"] <= bench.AGREE
    assert out["rows"] == len(data.frame) and out["report"].startswith("EYE TRACKING SCORE: ")
    assert out["ratio"] == pytest.approx(out["batched_rows_per_s"] / out["official_rows_per_s"])
    assert "rows/s" in bench.format_line(out, 5.0)


def test_no_ratio_when_the_sides_disagree(tmp_path, lm, monkeypatch):
    model, tok = lm
    data = reading.read_reading(write_reading_csv(tmp_path / "reading_data.csv"))
    real = bench.official_surprisals

    def skewed(model, tokenizer, frame):
        pred, prev = real(model, tokenizer, frame)
        return [p + 1e-3 for p in pred], prev

    monkeypatch.setattr(bench, "official_surprisals", skewed)
    out = bench.bench_reading(model, tok, data, batch_size=16, rounds=1)
    assert not out["agree"] and out["ratio"] is None and out["max_surprisal_diff"] > bench.AGREE
    assert "no ratio" in bench.format_line(out, 5.0)


def test_a_nan_on_one_side_only_is_a_disagreement():
    assert bench._max_diff([1.0, math.nan], [1.0, 2.0]) == math.inf
    assert bench._max_diff([1.0, math.nan], [1.5, math.nan]) == 0.5


def test_synthetic_rows_read_as_official_data(tmp_path):
    path = bench.write_synthetic_csv(SENTENCES, tmp_path / "r.csv", rows=20)
    data = reading.read_reading(path)
    assert len(data.frame) == 20 and data.frame["item"].iloc[0] == "None"
    assert len(reading.read_reading(bench.write_synthetic_csv(SENTENCES, tmp_path / "all.csv", rows=0)).frame) == sum(
        len(s.split()) for s in SENTENCES
    )
