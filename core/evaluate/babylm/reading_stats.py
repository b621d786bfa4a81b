"""BabyLM 2025 reading: the official regressions of reading times on surprisal, the two scores and
the six files of `zero_shot/causal/reading/`, from the rows and their `pred` / `prev_pred`.

Per measure, OLS (statsmodels formulas) of the measure on word frequency, length and context
length with their pairwise interactions, without and with `pred`; the spillover set adds
`prev_length` and `prev_pred`. Score = (R2_with - R2_without) / (1 - R2_without) x 100: the mean
over the four eye-tracking measures, and self-paced reading from the spillover set. Never imports
torch, gradio or studio.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import combinations

from core.errors import UserError

EYE = ("RTfirstfix", "RTfirstpass", "RTgopast", "RTrightbound")
SELF_PACED = "self_paced_reading_time"
MEASURES = EYE + (SELF_PACED, "ELAN", "LAN", "N400", "P600", "EPNP", "PNP")  # the pipeline's order
BASELINE = ("Subtlex_log10", "length", "context_length")
SPILLOVER = BASELINE + ("prev_length", "prev_pred")
REQUIRED_COLUMNS = ("item", "word", "prev_item", "prev_word") + MEASURES + BASELINE + ("prev_length",)
FILES = (
    "prediction.jsonl",
    "predictions.json",
    "correlations.txt",
    "predictive_power.jsonl",
    "predictive_power_spillover.jsonl",
    "report.txt",
)


@dataclass
class ReadingResult:
    """The two scores, the per-measure regressions and the official files (name -> text)."""

    eye_score: float
    spr_score: float
    correlations: dict[str, float]
    predictive_power: list[dict]
    spillover: list[dict]
    files: dict[str, str] = field(default_factory=dict)


def formula(measure: str, predictors: tuple[str, ...], with_pred: bool) -> str:
    """`measure ~ a + b + c + a:b + a:c + b:c [+ pred]`: main effects, then every pair in order."""
    terms = list(predictors) + [f"{a}:{b}" for a, b in combinations(predictors, 2)]
    return f"{measure} ~ " + " + ".join(terms + (["pred"] if with_pred else []))


@dataclass(frozen=True)
class BaselineFit:
    """What the scores read of a baseline fit."""

    rsquared: float
    aic: float


@dataclass(frozen=True)
class _Rows:
    """A baseline's rows, hashed by their content: every checkpoint of a run fits the same ones."""

    key: str
    frame: object = field(compare=False, hash=False)


@lru_cache(maxsize=256)
def _baseline(text: str, rows: _Rows) -> BaselineFit:
    import statsmodels.formula.api as smf

    fit = smf.ols(text, data=rows.frame).fit()
    return BaselineFit(float(fit.rsquared), float(fit.aic))


def fits(frame, measure: str, predictors: tuple[str, ...]):
    """The baseline fit (rows complete in its columns) and the fit with `pred` (rows complete in
    those plus `pred`, a statsmodels OLS result); `collate_preds` fits the fast scores the same way.
    A baseline without `prev_pred` does not depend on the model: it is fitted once per reading
    data (cached by content), not once per checkpoint, and gives the same numbers."""
    import hashlib

    import pandas as pd
    import statsmodels.formula.api as smf

    rows = frame[[measure, *predictors]].dropna()
    digest = hashlib.sha256(pd.util.hash_pandas_object(rows, index=True).to_numpy().tobytes())
    digest.update(repr(list(rows.columns)).encode())
    base = _baseline(formula(measure, predictors, False), _Rows(digest.hexdigest(), rows))
    full = smf.ols(formula(measure, predictors, True), data=frame[["pred", measure, *predictors]].dropna()).fit()
    return base, full


def regression(frame, measure: str, predictors: tuple[str, ...]) -> tuple[dict, float]:
    """One measure's two fits (`fits`): the pipeline's record and the relative R2 gain in %."""
    base, full = fits(frame, measure, predictors)
    r2_base, r2 = float(base.rsquared), float(full.rsquared)
    if full.df_resid < 1 or not r2_base < 1:  # the pipeline would divide by zero here
        raise UserError(
            f"reading: {int(full.nobs)} rows have every value {measure} ~ "
            f"{' + '.join(predictors)} + pred needs, too few for {int(full.df_model) + 1} "
            "terms (the fit is exact); score the whole reading_data.csv (the official one has 1,726 rows)"
        )
    record = {
        "Predicted variable": measure,
        "Coefficient": float(full.params["pred"]),
        "Number of standard deviations": float(full.tvalues["pred"]),
        "P-value": float(full.pvalues["pred"]),
        "R2": r2,
        "Change in R2 from baseline": r2 - r2_base,
        "AIC": float(full.aic),
        "Change in AIC from baseline": float(full.aic) - float(base.aic),
    }
    return record, (r2 - r2_base) / (1 - r2_base) * 100


def evaluate(frame, pred: list[float], prev_pred: list[float]) -> ReadingResult:
    """Scores and files for the CSV rows `frame` (as read) with their surprisals."""
    frame = frame.copy()
    frame["pred"] = pred
    frame["prev_pred"] = prev_pred
    correlations = {k: float(v) for k, v in frame[["pred", *MEASURES]].corr()["pred"].items() if k != "pred"}
    power, gains = [], []
    for measure in MEASURES:
        record, gain = regression(frame, measure, BASELINE)
        power.append(record)
        if measure in EYE:
            gains.append(gain)
    spill, spr = [], float("nan")
    for measure in MEASURES:
        record, gain = regression(frame, measure, SPILLOVER)
        spill.append(record)
        if measure == SELF_PACED:
            spr = gain
    eye = sum(gains) / len(gains)
    result = ReadingResult(eye, spr, correlations, power, spill)
    result.files = official_files(frame, result)
    return result


def official_files(frame, result: ReadingResult) -> dict[str, str]:
    """The pipeline's six files, byte for byte (json.dumps defaults; NaN written as NaN)."""
    index = frame.index.tolist()
    rows = zip(index, frame["item"].tolist(), frame["word"].tolist(), frame["pred"].tolist(), frame["prev_pred"].tolist())
    prediction = "".join(
        json.dumps({"Index": i, "Sentence": item, "Word": word, "Logprob": p, "Prev_Logprob": q}) + "\n"
        for i, item, word, p, q in rows
    )
    predictions = json.dumps(
        {
            "reading": {
                "predictions": [
                    {"id": i, "pred": p, "prev_pred": q}
                    for i, p, q in zip(index, frame["pred"].tolist(), frame["prev_pred"].tolist())
                ]
            }
        }
    )
    return {
        "prediction.jsonl": prediction,
        "predictions.json": predictions,
        "correlations.txt": "".join(f"{k}\t{v:.4f}\n" for k, v in result.correlations.items()),
        "predictive_power.jsonl": "".join(json.dumps(r) + "\n" for r in result.predictive_power),
        "predictive_power_spillover.jsonl": "".join(json.dumps(r) + "\n" for r in result.spillover),
        "report.txt": report_text(result.eye_score, result.spr_score),
    }


def report_text(eye: float, spr: float) -> str:
    """`report.txt`: the two scores with two decimals."""
    return f"EYE TRACKING SCORE: {eye:.2f}\nSELF-PACED READING SCORE: {spr:.2f}\n"
