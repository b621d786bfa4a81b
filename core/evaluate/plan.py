"""An eval's plan: every input its suites need (text, pairs, BabyLM, GLUE and AoA data, cloze
items, prompts) read and checked before any scoring, the suites skipped and why, and the
model-tokenizer fit. Must not import gradio."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.errors import UserError
from core.evaluate.inputs import default_eval_text, resolve_eval_text
from core.evaluate.options import EvalOptions
from core.model.folders import CHECKPOINT_PREFIX
from core.workspace import Workspace


@dataclass
class Plan:
    """The inputs every suite needs, read and checked up front, and the suites skipped (why)."""

    suites: list[str]
    skipped: dict[str, str] = field(default_factory=dict)
    text: object = None
    paradigms: list = field(default_factory=list)
    babylm: object = None  # core.evaluate.babylm.suite.BabyLMPlan
    babylm_layout: str = ""
    glue: object = None  # core.evaluate.babylm.finetune.suite.GluePlan
    glue_layout: str = ""
    aoa: object = None  # core.evaluate.babylm.aoa.AoAPlan
    cloze_items: list = field(default_factory=list)
    prompts: list = field(default_factory=list)
    seq_length: int = 0
    trained_context: int = 0  # the run's data.seq_length, else the model config's context


def check_vocab(model, tokenizer, info) -> None:
    """A tokenizer that does not belong to the model would score garbage: refuse it."""
    rows, size = model.get_input_embeddings().num_embeddings, len(tokenizer)
    fix = "save the tokenizer the model was trained with into the folder (tokenizer.save_pretrained)"
    if size > rows:
        raise UserError(
            f"{info.folder}: the tokenizer has {size} tokens but the model's embedding has only "
            f"{rows} rows, so this tokenizer does not belong to this model; {fix}"
        )
    # Our runs with model.vocab_size 0 size the embedding from their tokenizer: it must match exactly.
    if info.config is not None and info.config.model.vocab_size == 0 and size != rows:
        raise UserError(
            f"{info.folder}: the run sized its embedding from its tokenizer ({rows} tokens), but the "
            f"tokenizer here has {size}; {fix}"
        )


def make_plan(opts: EvalOptions, ws: Workspace, info, model, tokenizer) -> Plan:
    from core.evaluate import cloze, generation, pairs
    from core.evaluate.scoring import model_context

    plan = Plan(suites=list(opts.suites))

    def skip(suite: str, reason: str) -> None:
        if opts.suites_given:
            raise UserError(f"--suite {suite}: {reason}")
        plan.suites.remove(suite)
        plan.skipped[suite] = reason

    if "ppl" in plan.suites:
        if opts.data:
            plan.text = resolve_eval_text(opts.data, ws)
        else:
            plan.text, reason = default_eval_text(info, ws)
            if plan.text is None:
                skip("ppl", reason)
    if "pairs" in plan.suites:
        folder = opts.pairs_dir or (ws.root / "blimp" if (ws.root / "blimp").is_dir() else "")
        if folder:
            plan.paradigms = pairs.load_pairs_dir(folder, opts.num_samples)
        else:
            skip("pairs", f"no minimal pairs: give --pairs-dir DIR (BLiMP .jsonl files) or put them in {ws.root / 'blimp'}")
    if "babylm" in plan.suites:
        _plan_babylm(opts, ws, info, plan, skip)
    if "glue" in plan.suites:
        _plan_glue(opts, ws, info, plan)
    if "aoa" in plan.suites:
        _plan_aoa(opts, ws, info, plan, skip)
    if "cloze" in plan.suites:
        plan.cloze_items = cloze.load_cloze_file(opts.cloze_file) if opts.cloze_file else list(cloze.BUILTIN)
        if opts.num_samples:
            plan.cloze_items = plan.cloze_items[: opts.num_samples]
    if "gen" in plan.suites:
        plan.prompts = list(generation.PROMPTS)
        if opts.custom_prompts:
            plan.prompts += generation.read_prompts(opts.custom_prompts, model, tokenizer)
    if not plan.suites:
        raise UserError("nothing to evaluate: " + "; ".join(f"{k}: {v}" for k, v in plan.skipped.items()))
    ctx = model_context(model) or 1024
    trained = info.config.data.seq_length if info.config is not None else 0
    plan.trained_context = trained or model_context(model) or 0
    plan.seq_length = min(opts.seq_length or trained or 1024, ctx)
    return plan


def _plan_babylm(opts: EvalOptions, ws: Workspace, info, plan: Plan, skip) -> None:
    from core.evaluate.babylm import suite as babylm

    folder = opts.babylm_data or (ws.root / "evaluation_data" if (ws.root / "evaluation_data").is_dir() else "")
    if not folder and not opts.suites_given:
        plan.suites.remove("babylm")  # not asked for and no data: the default set is the other suites
        return
    if not folder:
        skip(
            "babylm",
            "no BabyLM data: give --babylm-data DIR (the official evaluation_data/ folder) "
            f"or put it at {ws.root / 'evaluation_data'}",
        )
        return
    plan.babylm = babylm.plan(folder, opts.fast, opts.temperatures, opts.num_samples)
    plan.babylm_layout = babylm.official_layout(*_model_revision(opts, info))


def _model_revision(opts: EvalOptions, info) -> tuple[str, str]:
    """(model folder name, revision) of the official results layout."""
    name = info.run or (info.run_dir or info.folder).name
    return name, babylm_revision(opts.revision, info.folder, opts.model)


def babylm_revision(given: str, folder: Path, model_ref: str = "") -> str:
    """The revision folder of the official layout: the one named with --revision, else a `chck_*`
    checkpoint's own name, else `main` (a run's final model, or the latest checkpoint-<step> of a
    run stopped before it: the pipeline names a model without a revision `main`). A
    `checkpoint-<step>` folder the user named themselves (`eval RUN/checkpoint-5`) keeps its name,
    so it is never filed over the final model's `main`."""
    if given:
        return given
    if folder.name.startswith("chck_"):
        return folder.name
    if folder.name.startswith(CHECKPOINT_PREFIX) and Path(model_ref).name == folder.name:
        return folder.name
    return "main"


def _plan_glue(opts: EvalOptions, ws: Workspace, info, plan: Plan) -> None:
    from core.evaluate.babylm.finetune import outputs as glue_outputs
    from core.evaluate.babylm.finetune import suite as glue

    folder = opts.babylm_data or (ws.root / "evaluation_data" if (ws.root / "evaluation_data").is_dir() else "")
    if not folder:
        raise UserError(
            "--suite glue: no BabyLM data: give --babylm-data DIR (the official evaluation_data/ "
            f"folder, with full_eval/glue_filtered/) or put it at {ws.root / 'evaluation_data'}"
        )
    plan.glue = glue.plan(folder, opts.tasks, opts.pooling, opts.epochs, opts.max_train_examples, opts.max_valid_examples)
    plan.glue_layout = glue_outputs.layout(*_model_revision(opts, info))


def _plan_aoa(opts: EvalOptions, ws: Workspace, info, plan: Plan, skip) -> None:
    from core.evaluate.babylm import aoa

    folder = opts.babylm_data or (ws.root / "evaluation_data" if (ws.root / "evaluation_data").is_dir() else "")
    if not folder:
        skip(
            "aoa",
            "no AoA data: give --babylm-data DIR (the official evaluation_data/ folder, with "
            f"cdi_childes.json and cdi_human.csv) or put it at {ws.root / 'evaluation_data'}",
        )
        return
    root = aoa.checkpoint_root(info.folder)
    plan.aoa = aoa.plan(folder, info.folder, info.run or (root or info.folder).name, opts.num_samples)
