"""BabyLM reading against the official rule, re-implemented here without `core`: one context at a
time through the model (get_p2's multi-sub-token walk included), the pipeline's statsmodels
formulas written out as it writes them, its six files as it prints them."""

from __future__ import annotations

import csv
import json
import math
import random

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
import torch

from core.errors import UserError
from core.evaluate.babylm import reading, reading_stats, suite, tasks
from tests.core.evaluate import babylm_fixtures as fx

MEASURES = [
    "RTfirstfix",
    "RTfirstpass",
    "RTgopast",
    "RTrightbound",
    "self_paced_reading_time",
    "ELAN",
    "LAN",
    "N400",
    "P600",
    "EPNP",
    "PNP",
]
SENTENCES = [
    "the girl saw herself in the mirror",
    "a dog is an animal",
    "Zyxglorbington admired the robin",
    "the cup is in the box",
    "ann is kind and helps people",
    "box 1 contains the apple",
    "a fish can swim in the water",
    "what did the dog chase",
]
LAYOUT = "results/m/main/zero_shot/causal"


def write_reading_csv(path, seed: int = 0):
    """One row per word of SENTENCES in the official columns. The first word of a sentence has an
    empty `item` (the pipeline reads "None") and no `prev_item`; times are seeded random numbers,
    a few missing (dropped per regression)."""
    rng = random.Random(seed)
    rows = []
    for sentence in SENTENCES:
        words = sentence.split()
        for k, word in enumerate(words):
            row = {
                "item": " ".join(words[:k]),
                "word": (" " if k else "") + word,
                "prev_item": " ".join(words[: k - 1]) if k >= 2 else "",
                "prev_word": (" " if k > 1 else "") + words[k - 1] if k >= 2 else "",
            }
            for m in MEASURES:
                row[m] = "" if rng.random() < 0.05 else round(rng.gauss(300, 60), 2)
            row.update(
                Subtlex_log10=round(rng.uniform(1, 5), 4),
                length=len(word),
                context_length=k,
                prev_length=len(words[k - 1]) if k else "",
            )
            rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


# ---- the official rule, one context at a time (evaluation_pipeline/reading) ----


def ref_p(context, word, model, tok):
    enc = tok(context, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits[:, -1, :]
    return torch.softmax(logits[0], dim=-1)[tok(word, add_special_tokens=False)["input_ids"][0]].item()


def ref_p2(context, word, model, tok):
    pieces = tok(word, add_special_tokens=False)["input_ids"]
    enc = tok(context, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits[:, -1, :]
    first = torch.softmax(logits[0], dim=-1)[pieces[0]].item()
    if len(pieces) == 1:
        return first
    probs, context = [first], context + tok.decode(pieces[0])
    for piece in pieces[1:]:
        text = tok.decode(piece)
        probs.append(ref_p(context, text, model, tok))
        context = context + text
    return np.prod(probs)


def ref_surprisals(path, model, tok):
    df = pd.read_csv(path, dtype={"item": str})
    df["item"] = df["item"].fillna("None")
    pred, prev = [], []
    for _, row in df.iterrows():
        pred.append(-math.log(ref_p2(row["item"], row["word"], model, tok)))
        prev.append(
            -math.log(ref_p2(row["prev_item"], row["prev_word"], model, tok))
            if isinstance(row["prev_item"], str)
            else float("NaN")
        )
    df["pred"], df["prev_pred"] = pred, prev
    return df


BASE = "Subtlex_log10 + length + context_length + Subtlex_log10:length + Subtlex_log10:context_length + length:context_length"
SPILL = (
    "Subtlex_log10 + length + context_length + prev_length + prev_pred + Subtlex_log10:length"
    " + Subtlex_log10:context_length + Subtlex_log10:prev_length + Subtlex_log10:prev_pred"
    " + length:context_length + length:prev_length + length:prev_pred + context_length:prev_length"
    " + context_length:prev_pred + prev_length:prev_pred"
)


def ref_files(df) -> dict[str, str]:
    files = {
        "prediction.jsonl": "".join(
            json.dumps(
                {"Index": i, "Sentence": r["item"], "Word": r["word"], "Logprob": r["pred"], "Prev_Logprob": r["prev_pred"]}
            )
            + "\n"
            for i, r in df.iterrows()
        ),
        "predictions.json": json.dumps(
            {"reading": {"predictions": [{"id": i, "pred": r["pred"], "prev_pred": r["prev_pred"]} for i, r in df.iterrows()]}}
        ),
    }
    corr = df[["pred"] + MEASURES].corr()["pred"]
    files["correlations.txt"] = "".join(f"{k}\t{v:.4f}\n" for k, v in corr.items() if k != "pred")
    scores = {}
    for name, rhs, extra in (
        ("predictive_power.jsonl", BASE, []),
        ("predictive_power_spillover.jsonl", SPILL, ["prev_length", "prev_pred"]),
    ):
        lines, gains = [], []
        for dv in MEASURES:
            cols = [dv, "Subtlex_log10", "length", "context_length"] + extra
            base = smf.ols(formula=dv + " ~ " + rhs, data=df[cols].dropna()).fit()
            full = smf.ols(formula=dv + " ~ " + rhs + " + pred", data=df[["pred"] + cols].dropna()).fit()
            lines.append(
                json.dumps(
                    {
                        "Predicted variable": dv,
                        "Coefficient": float(full.params["pred"]),
                        "Number of standard deviations": float(full.tvalues["pred"]),
                        "P-value": float(full.pvalues["pred"]),
                        "R2": float(full.rsquared),
                        "Change in R2 from baseline": float(full.rsquared) - float(base.rsquared),
                        "AIC": float(full.aic),
                        "Change in AIC from baseline": float(full.aic) - float(base.aic),
                    }
                )
                + "\n"
            )
            gain = (float(full.rsquared) - float(base.rsquared)) / (1 - float(base.rsquared)) * 100
            if (name == "predictive_power.jsonl" and "RT" in dv) or (extra and "self" in dv):
                gains.append(gain)
        files[name] = "".join(lines)
        scores[name] = sum(gains) / len(gains)
    files["report.txt"] = (
        f"EYE TRACKING SCORE: {scores['predictive_power.jsonl']:.2f}\n"
        f"SELF-PACED READING SCORE: {scores['predictive_power_spillover.jsonl']:.2f}\n"
    )
    return files


# ---- fixtures and tests ----


@pytest.fixture(scope="module", params=["bos", "nobos"])
def lm(request, tmp_path_factory):
    tok = fx.make_tokenizer(tmp_path_factory.mktemp("tok"), add_bos=request.param == "bos")
    return fx.make_model(len(tok)), tok


@pytest.fixture(scope="module")
def csv_path(tmp_path_factory):
    return write_reading_csv(tmp_path_factory.mktemp("reading") / "reading" / "reading_data.csv")


@pytest.fixture(scope="module")
def reference(csv_path, lm):
    model, tok = lm
    return ref_surprisals(csv_path, model, tok)


def test_fixture_has_what_the_rule_is_sensitive_to(csv_path, lm):
    _, tok = lm
    df = pd.read_csv(csv_path, dtype={"item": str})
    assert len(df) >= 40
    assert df["prev_item"].isna().sum() >= len(SENTENCES) and df["item"].isna().sum() == len(SENTENCES)
    assert max(len(tok(w, add_special_tokens=False)["input_ids"]) for w in df["word"]) >= 3


def test_surprisals_equal_one_context_at_a_time(csv_path, lm, reference):
    model, tok = lm
    data = reading.read_reading(csv_path)
    for batch_size in (1, 7, 64):
        got = reading.surprisals(model, tok, data, batch_size)
        assert got.pred == pytest.approx(reference["pred"].tolist(), abs=1e-5)
        ours_nan = [math.isnan(v) for v in got.prev_pred]
        assert ours_nan == reference["prev_pred"].isna().tolist()
        assert [v for v in got.prev_pred if not math.isnan(v)] == pytest.approx(
            reference["prev_pred"].dropna().tolist(), abs=1e-5
        )
    # Each distinct context once: a row's prev_item is the item of the row before it.
    steps = {s for w in reading.plan_words(tok, data)[0] for s in w.steps}
    assert got.contexts == len({c for c, _ in steps}) < len(data.frame) * 2


def test_files_equal_the_pipeline_byte_for_byte(reference):
    frame = reference.drop(columns=["pred", "prev_pred"])
    ours = reading_stats.evaluate(frame, reference["pred"].tolist(), reference["prev_pred"].tolist())
    assert ours.files == ref_files(reference)
    assert set(ours.files) == set(reading_stats.FILES)


def test_model_free_baselines_are_fitted_once_and_give_the_same_files(reference):
    """The next checkpoint (other surprisals, the same rows) reuses the baseline fits without
    `prev_pred` and still equals the pipeline's files; a changed measure is fitted anew."""
    frame = reference.drop(columns=["pred", "prev_pred"])
    reading_stats._baseline.cache_clear()
    reading_stats.evaluate(frame, reference["pred"].tolist(), reference["prev_pred"].tolist())
    fitted = reading_stats._baseline.cache_info().misses
    shifted = reference.assign(pred=reference["pred"] * 1.1, prev_pred=reference["prev_pred"] * 0.9)
    again = reading_stats.evaluate(frame, shifted["pred"].tolist(), shifted["prev_pred"].tolist())
    info = reading_stats._baseline.cache_info()
    assert info.hits == len(reading_stats.MEASURES)  # the baseline set; spillover baselines hold prev_pred
    assert info.misses == fitted + len(reading_stats.MEASURES)
    assert again.files == ref_files(shifted)
    changed = frame.assign(RTfirstfix=frame["RTfirstfix"] + 1.0)
    reading_stats.evaluate(changed, reference["pred"].tolist(), reference["prev_pred"].tolist())
    assert reading_stats._baseline.cache_info().misses > info.misses


def test_scores_and_files_end_to_end(csv_path, lm, reference):
    model, tok = lm
    out = reading.run_reading(model, tok, reading.read_reading(csv_path), 16, log=lambda _: None, layout=LAYOUT)
    expected = ref_files(reference)
    files = {k.rsplit("/", 1)[1]: v for k, v in out["_files"].items()}
    assert all(k.startswith(f"{LAYOUT}/reading/") for k in out["_files"])
    assert files["report.txt"] == expected["report.txt"]
    assert files["correlations.txt"] == expected["correlations.txt"]
    assert out["eye_tracking"] == pytest.approx(float(expected["report.txt"].split()[3]), abs=0.005)
    assert out["rows"] == len(reference)
    lines = [json.loads(x) for x in files["prediction.jsonl"].splitlines()]
    assert [x["Sentence"] for x in lines][:2] == ["None", "the"]
    assert [x["Logprob"] for x in lines] == pytest.approx(reference["pred"].tolist(), abs=1e-5)


def test_formulas_are_the_pipelines():
    assert reading_stats.formula("RTgopast", reading_stats.BASELINE, True) == f"RTgopast ~ {BASE} + pred"
    assert reading_stats.formula("PNP", reading_stats.SPILLOVER, False) == f"PNP ~ {SPILL}"


def test_suite_scores_reading_when_the_data_has_it(tmp_path, lm):
    model, tok = lm
    data = fx.write_evaluation_data(tmp_path)
    folder = data / "full_eval" / "reading"
    warned = [w for w in tasks.discover(data).warnings if w.startswith(f"{folder}:")]
    assert warned and "no reading_data.csv" in warned[0]  # an empty reading/ is not scored
    write_reading_csv(folder / "reading_data.csv")
    layout = tasks.discover(data)
    assert layout.reading == folder / "reading_data.csv"
    assert not any(w.startswith(f"{folder}:") for w in layout.warnings)
    assert tasks.discover(folder).reading == folder / "reading_data.csv"  # the reading folder itself
    only = tmp_path / "only" / "fast_eval"
    write_reading_csv(only / "reading" / "reading_data.csv")
    the_plan = suite.plan(tmp_path / "only", fast=True)
    assert the_plan.tasks == [] and the_plan.reading is not None
    out = suite.run(model, tok, the_plan, 8, log=lambda _: None, layout=LAYOUT)
    assert set(out["scoreboard"]) == {"reading/reading_eye", "reading/reading_spr"}
    assert out["scoreboard"]["reading/reading_eye"] == out["reading"]["eye_tracking"]
    assert {k.rsplit("/", 1)[1] for k in out["_files"]} == set(reading_stats.FILES)


def test_bad_reading_data_names_the_file_and_the_fix(tmp_path):
    path = write_reading_csv(tmp_path / "reading" / "reading_data.csv")
    df = pd.read_csv(path)
    df.drop(columns=["Subtlex_log10"]).to_csv(path, index=False)
    with pytest.raises(UserError, match="reading_data.csv: missing column.*Subtlex_log10"):
        reading.read_reading(path)
    df.loc[3, "word"] = None
    df.to_csv(path, index=False)
    with pytest.raises(UserError, match=r"row 5: `word` is empty"):
        reading.read_reading(path)
    df.loc[3, "word"] = " saw"
    df.loc[4, "prev_word"] = None
    df.to_csv(path, index=False)
    with pytest.raises(UserError, match=r"row 6: `prev_item` is given but `prev_word` is empty"):
        reading.read_reading(path)
    path.write_text("")
    with pytest.raises(UserError, match="reading_data.csv: not a readable CSV"):
        reading.read_reading(path)


def test_too_few_rows_for_the_regressions_is_a_user_error(csv_path, reference):
    frame = reference.head(16)
    with pytest.raises(UserError, match="too few for .* terms"):
        reading_stats.evaluate(frame.drop(columns=["pred", "prev_pred"]), frame["pred"].tolist(), frame["prev_pred"].tolist())


def test_gpt2_surprisals_equal_one_context_at_a_time(csv_path, tmp_path):
    """GPT-2's body and head are found the same way (base_model + output embeddings)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=True)
    torch.manual_seed(1)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=128)).eval()
    frame = pd.read_csv(csv_path, dtype={"item": str}).head(14)
    frame.to_csv(tmp_path / "reading_data.csv", index=False)
    expected = ref_surprisals(tmp_path / "reading_data.csv", model, tok)
    got = reading.surprisals(model, tok, reading.read_reading(tmp_path / "reading_data.csv"), 5)
    assert got.pred == pytest.approx(expected["pred"].tolist(), abs=1e-5)
