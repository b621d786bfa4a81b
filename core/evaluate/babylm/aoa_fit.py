"""The AoA score as the official pipeline computes it (`AoAEvaluator` in evaluation_pipeline/utils.py):
sigmoid fits per word to the children's CDI proportions and to the model's surprisal points, and
the Pearson r between the two ages of acquisition ("curve fitness"). numpy + scipy only; never
imports torch, gradio or studio.

Quirks kept on purpose (docs/evaluation.md, "AoA"): the model's chance level is log2(300000) bits
while its surprisals are in nats; every (checkpoint, context) surprisal is its own point of the
fit (contexts are not averaged); a checkpoint whose name holds no number is left out of the fit.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

CHILD_AGES = tuple(range(16, 31))  # the CDI age columns the pipeline reads, in months
THRESHOLD = 0.5  # AoA: half way up the fitted curve (children) / to the minimum (model)
APPROXIMATE_VOCAB = 300_000  # the pipeline's chance level: log2 of this (bits)
MAXFEV = 1000
# What curve_fit raises when a fit fails (no convergence, too few points, singular system): the
# pipeline then has no age for that word.
FIT_ERRORS = (RuntimeError, ValueError, TypeError, np.linalg.LinAlgError)
_STEP = re.compile(r"(\d+(?:\.\d+)?)\s*([KMB]?)", re.IGNORECASE)
_UNIT = {"K": 1_000, "M": 1_000_000, "B": 1_000_000_000}


def sigmoid(x, a, b, c, d):
    """a / (1 + exp(-b (x - c))) + d, the curve both fits use."""
    return a / (1 + np.exp(-b * (x - c))) + d


def step_words(name) -> float | None:
    """Words seen that a checkpoint name stands for, read as the pipeline reads it: the first
    number with an optional K/M/B ("chck_10M" -> 1e7, "chck_20k" -> 2e4); None when it has none."""
    if isinstance(name, (int, float)):
        return float(name)
    match = _STEP.search(str(name))
    if not match:
        return None
    return float(match.group(1)) * _UNIT.get(match.group(2).upper(), 1)


def _curve_fit(x, y, p0, **kwargs):
    from scipy.optimize import curve_fit

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # overflow in exp and covariance warnings: the values are what counts
        popt, _ = curve_fit(sigmoid, x, y, p0=p0, maxfev=MAXFEV, **kwargs)
    return popt


def child_fit(ages, proportions) -> tuple[float, float, float, float] | None:
    """The sigmoid (a, b, c, d) fitted to the children's proportions by age (months); None when
    there are under 3 values or the fit fails."""
    ages, proportions = np.asarray(ages), np.asarray(proportions, dtype=float)
    valid = ~np.isnan(proportions)
    if not np.any(valid) or valid.sum() < 3:
        return None
    x, y = ages[valid], proportions[valid]
    try:
        a, b, c, d = _curve_fit(x, y, [1.0, 0.1, np.mean(x), 0.0], bounds=([0, 0, x[0], -0.5], [2.0, 1.0, x[-1], 0.5]))
    except FIT_ERRORS:
        return None
    return float(a), float(b), float(c), float(d)


def child_aoa(ages, proportions, threshold: float = THRESHOLD) -> float | None:
    """Age (months) where the sigmoid fitted to the proportions reaches `threshold`; None when there
    are under 3 values, the fit fails, or the crossing is outside the ages measured."""
    params = child_fit(ages, proportions)
    if params is None:
        return None
    measured = np.asarray(ages)[~np.isnan(np.asarray(proportions, dtype=float))]
    return _crossing(*params, threshold, measured[0], measured[-1])


def _crossing(a, b, c, d, level, lo, hi) -> float | None:
    if b <= 0 or a <= 0 or level <= d or level >= a + d:
        return None
    x = c - np.log((a / (level - d)) - 1) / b
    return None if x < lo or x > hi else float(x)


@dataclass
class ModelFit:
    """The sigmoid fitted to (log10(words seen + 1), -surprisal), the level its AoA crosses
    (-surprisal) and the words seen of the fitted points (first, last: the range an AoA must fall in)."""

    params: tuple[float, float, float, float]
    level: float
    first_words: float
    last_words: float

    def surprisal(self, words: float) -> float:
        """The fitted curve's surprisal (nats) at `words` seen."""
        return float(-sigmoid(np.log10(words + 1), *self.params))


def model_fit(surprisals, steps, threshold: float = THRESHOLD, vocab: float = APPROXIMATE_VOCAB) -> ModelFit | None:
    """The model's fit: None for under 3 points, no finite surprisal, or a failed fit. The level is
    half way from chance (log2 of `vocab`, in bits) to the lowest surprisal (in nats)."""
    if len(surprisals) != len(steps):
        raise ValueError("surprisals and steps must have the same length")
    if len(surprisals) < 3:
        return None
    steps, surprisals = np.asarray(steps, dtype=float), np.asarray(surprisals, dtype=float)
    valid = ~np.isnan(surprisals)
    if not np.any(valid):
        return None
    x_steps, s = steps[valid], surprisals[valid]
    chance = np.log2(vocab)
    level = -(chance - threshold * (chance - np.min(s)))
    y, x = -s, np.log10(x_steps + 1)
    try:
        a, b, c, d = _curve_fit(x, y, [np.max(y) - np.min(y), 1.0, np.mean(x), np.min(y)])
    except FIT_ERRORS:
        return None
    return ModelFit((float(a), float(b), float(c), float(d)), float(level), float(x_steps[0]), float(x_steps[-1]))


def model_aoa(surprisals, steps, threshold: float = THRESHOLD, vocab: float = APPROXIMATE_VOCAB) -> float | None:
    """log10(words seen + 1) where the sigmoid fitted to (log10(words + 1), -surprisal) crosses the
    threshold half way from chance (log2 of `vocab`, in bits) to the lowest surprisal (in nats);
    None for under 3 points, a failed fit, or a crossing outside the words seen."""
    fit = model_fit(surprisals, steps, threshold, vocab)
    if fit is None:
        return None
    log_step = _crossing(*fit.params, fit.level, -math.inf, math.inf)
    if log_step is None:
        return None
    words = 10**log_step - 1
    return None if words < fit.first_words or words > fit.last_words else log_step


@dataclass
class Fitness:
    """The score and what it came from (JSON-ready through `as_dict`)."""

    curve_fitness: float
    n_words: int
    p_value: float | None = None
    mean_monthly_score: float | None = None
    monthly_scores: dict[str, float] = field(default_factory=dict)
    valid_words: list[str] = field(default_factory=list)
    model_aoas: list[float] = field(default_factory=list)
    child_aoas: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def curve_fitness(points: dict[str, tuple[list[float], list[float]]], human) -> Fitness:
    """Pearson r between model and child AoAs over the words both fits give an age for.

    `points[word]` = (words seen, surprisal) of every scored (checkpoint, context), in order;
    `human` is `aoa.ChildData`. Under 3 such words the score is 0.0, as in the pipeline."""
    from scipy.stats import pearsonr

    rows = {}
    for word, row in zip(human.words, human.rows):
        rows.setdefault(word, row)  # the first row of a word, as the pipeline's lookup
    model, child, valid = [], [], []
    for word, (steps, surprisals) in points.items():
        if word not in rows:
            continue
        age = child_aoa(human.ages, rows[word])
        if age is None:
            continue
        step = model_aoa(surprisals, steps)
        if step is None:
            continue
        model.append(step)
        child.append(age)
        valid.append(word)
    if len(model) < 3:
        return Fitness(0.0, len(model))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a constant input gives NaN, as in the pipeline
        r, p = pearsonr(model, child)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an all-empty age column has a NaN mean, as in the pipeline
        monthly = {f"month_{age}": float(np.nanmean(col)) for age, col in zip(human.ages, np.asarray(human.rows, dtype=float).T)}
    return Fitness(float(r), len(valid), float(p), float(np.mean(list(monthly.values()))), monthly, valid, model, child)
