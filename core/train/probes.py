"""Measurements of the plain LM during training beyond the eval loss.

A `Probe` is a function of the model the loop runs every `every` optimizer steps, at step 0 of a
fresh run and at the last step (main process only; the others go on to their next all-reduce).
Its numbers are logged like evaluation metrics, with the tokens and words seen so far: the
minimal-pairs probe gives `pairs_acc`, the studio's "grammar learned vs words seen" curve; the
BabyLM probe gives `babylm/<folder>` (the official fast suite) and also runs at every `chck_`
checkpoint, the points BabyLM participants report.
Must not import gradio or core.history.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from core.config import RunConfig
from core.config.resolve import resolve_pairs
from core.errors import UserError
from core.evaluate.pairs import Paradigm, encode_pairs, load_pairs_dir, score_pairs
from core.workspace import Workspace

PAIRS_METRIC = "pairs_acc"
BABYLM_METRIC = "babylm"


@dataclass(frozen=True)
class Probe:
    """Run `measure(lm) -> {metric: value}` every `every` steps (and at step 0 and the end);
    `at_challenge` probes also run at every BabyLM `chck_` checkpoint, even with `every` 0."""

    every: int
    measure: Callable[[object], Mapping[str, float]]
    describe: str = ""
    at_challenge: bool = False

    def due(self, step: int, max_steps: int) -> bool:
        if self.every <= 0 and not self.at_challenge:
            return False
        return step == 0 or step >= max_steps or (self.every > 0 and step % self.every == 0)


def load_pairs(cfg: RunConfig, ws: Workspace) -> list[Paradigm]:
    """The paradigms `eval.pairs_dir` names (default `<workspace>/blimp/`); errors name the file
    and line, or the `eval.pairs_dir` setting."""
    return load_pairs_dir(resolve_pairs(cfg, ws), cfg.eval.pairs_limit, setting="eval.pairs_dir")


def pairs_probe(cfg: RunConfig, ws: Workspace, tokenizer, batch_size: int = 64) -> Probe | None:
    """Minimal-pair accuracy every `eval.pairs_every` steps: `pairs_acc` is the unweighted mean over
    paradigms (as BabyLM reports it), `pairs_acc/<field>` the mean of each linguistic field when
    the files name more than one. None when `eval.pairs_every` is 0.

    The sentences are encoded here, once: a sentence longer than the model's context, or a
    tokenizer that cannot score a first word, fails the run before training starts."""
    if not cfg.eval.pairs_every:
        return None
    paradigms = load_pairs(cfg, ws)
    try:
        seqs = encode_pairs(tokenizer, paradigms, cfg.model.max_position_embeddings)
    except UserError as err:
        raise UserError(f"eval.pairs_dir: {err}") from None

    def measure(lm) -> dict[str, float]:
        result = score_pairs(lm, tokenizer, paradigms, batch_size=batch_size, seqs=seqs)
        metrics = {PAIRS_METRIC: result["mean"]}
        if len(result["fields"]) > 1:
            metrics.update({f"{PAIRS_METRIC}/{field}": acc for field, acc in result["fields"].items()})
        return metrics

    n_pairs = sum(len(p.pairs) for p in paradigms)
    folder = Path(paradigms[0].path).parent
    return Probe(
        cfg.eval.pairs_every,
        measure,
        describe=f"minimal pairs every {cfg.eval.pairs_every} steps: {len(paradigms)} paradigms, {n_pairs} pairs from {folder}",
    )


def load_babylm(cfg: RunConfig, ws: Workspace):
    """The fast suite `eval.babylm_fast_dir` names, read and checked (errors name the file and line)."""
    from core.config.resolve import resolve_babylm
    from core.evaluate.babylm.suite import plan

    folder = resolve_babylm(cfg, ws)
    try:
        return plan(folder, fast=True, limit=cfg.eval.babylm_limit)
    except UserError as err:
        raise UserError(f"eval.babylm_fast_dir: {err}") from None


def babylm_probe(cfg: RunConfig, ws: Workspace, tokenizer, batch_size: int = 64) -> Probe | None:
    """The BabyLM fast suite by the official rule at step 0, every `eval.babylm_every` steps, at every
    `chck_` checkpoint and at the end: `babylm/<folder>` (accuracy in %, or Spearman's rho for WUG)
    per task folder, and `babylm/reading_eye`, `babylm/reading_spr` when the folder has
    reading/reading_data.csv. None when `eval.babylm_fast_dir` is empty."""
    if not cfg.eval.babylm_fast_dir:
        return None
    from core.evaluate.babylm.suite import run

    the_plan = load_babylm(cfg, ws)

    def measure(lm) -> dict[str, float]:
        out = run(lm, tokenizer, the_plan, batch_size, log=lambda _: None)
        return {f"{BABYLM_METRIC}/{label.split('/', 1)[1]}": value for label, value in out["scoreboard"].items()}

    items = sum(len(t.items) for t in the_plan.tasks)
    every = f"every {cfg.eval.babylm_every} steps, " if cfg.eval.babylm_every else ""
    return Probe(
        cfg.eval.babylm_every,
        measure,
        at_challenge=True,
        describe=f"BabyLM fast suite {every}at chck_ checkpoints and at the end: "
        f"{', '.join(t.label for t in the_plan.tasks)} ({items} items)"
        + (f", reading ({len(the_plan.reading.frame)} words)" if the_plan.reading is not None else ""),
    )
