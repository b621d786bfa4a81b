"""`babyllama eval`: run the chosen suites on one model and write one results folder.

Order: check options, load the model, read every input (pairs, cloze, prompts, text) so bad input
fails before any scoring, run the suites, write everything into a hidden temp folder, rename it
into place (a failed eval never leaves a folder that looks complete), then record the results in
the history when the model is a run. The CLI, the worker (`eval` jobs) and the studio call
`run_eval`. Must not import gradio.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timezone
from pathlib import Path

from core.errors import UserError
from core.evaluate import ALL_SUITES, SUITES
from core.evaluate.inputs import default_eval_text, model_hashes, model_info, output_dir, resolve_eval_text
from core.model.folders import CHECKPOINT_PREFIX
from core.portable import portability_note
from core.workspace import Workspace

RESULTS_VERSION = 1
PPL_TOKENS_PER_PASS = 16384  # caps perplexity windows per forward pass (memory grows with the vocabulary)


@dataclass
class EvalOptions:
    """Everything `babyllama eval` takes; also the params of an `eval` job (to_dict/from_dict)."""

    model: str
    suites: tuple[str, ...] = SUITES
    data: str = ""  # perplexity text: corpus name/folder/file; "" = the run's own dev split
    num_samples: int = 0  # at most this many pairs per paradigm, cloze items, perplexity windows (0 = all)
    device: str = ""  # cpu | cuda; "" = cuda when available
    output: str = ""  # results folder ("" = <run>/eval/<time>/); a .json path also gets results.json
    custom_prompts: str = ""  # extra generation prompts, one a line
    pairs_dir: str = ""  # BLiMP-format .jsonl files, one per paradigm
    cloze_file: str = ""  # extra cloze items (JSONL)
    batch_size: int = 32
    seq_length: int = 0  # perplexity window; 0 = the run's data.seq_length (else up to 1024)
    max_new_tokens: int = 48
    seed: int = 0
    babylm_data: str = ""  # the official evaluation_data/ (or its full_eval/, fast_eval/, one task folder)
    fast: bool = False  # babylm: fast_eval/ instead of full_eval/
    temperatures: str = ""  # babylm: "1.0", "1,1.5,2" or MIN:MAX[:STEP] ("" = 1.0, the pipeline's default)
    revision: str = ""  # babylm: the revision folder of the results layout ("" = main, or the chck_ name)
    tasks: str = ""  # glue: comma-separated fine-tuning tasks ("" = all seven)
    pooling: str = "first"  # glue: first (official: position 0) | last (the last real token; not official)
    epochs: int = 0  # glue: epochs per task (0 = the recipe's: 10, WSC 30)
    max_train_examples: int = 0  # glue: the first K training examples per task (0 = all)
    max_valid_examples: int = 0  # glue: the first K validation examples per task (0 = all)
    exact: bool = True  # babylm: the official pipeline's batches and float32 sums (False: fast, float64)
    suites_given: bool = False  # chosen by the user: a suite whose input is missing is then an error

    def __post_init__(self) -> None:
        if isinstance(self.suites, str):
            self.suites = tuple(s.strip() for s in self.suites.split(",") if s.strip())
        self.suites = tuple(self.suites)

    def to_dict(self) -> dict:
        return {**asdict(self), "suites": list(self.suites)}

    @classmethod
    def from_dict(cls, raw: dict) -> "EvalOptions":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def check(self) -> None:
        """Raise one UserError listing every bad option (before anything is loaded)."""
        problems = [
            f"--suite: unknown suite {s!r} (choose from {', '.join(ALL_SUITES)})" for s in self.suites if s not in ALL_SUITES
        ]
        if not self.suites:
            problems.append(f"--suite: no suite chosen (choose from {', '.join(ALL_SUITES)})")
        if self.device not in ("", "cpu", "cuda"):
            problems.append(f"--device: {self.device!r} is not cpu or cuda")
        for name in ("num_samples", "seq_length", "seed", "epochs", "max_train_examples", "max_valid_examples"):
            if getattr(self, name) < 0:
                problems.append(f"--{name.replace('_', '-')}: must be 0 or more, got {getattr(self, name)}")
        for name in ("batch_size", "max_new_tokens"):
            if getattr(self, name) < 1:
                problems.append(f"--{name.replace('_', '-')}: must be at least 1, got {getattr(self, name)}")
        if self.temperatures:
            from core.evaluate.babylm.suite import parse_temperatures

            try:
                parse_temperatures(self.temperatures)
            except UserError as err:
                problems.append(str(err))
        problems += self._check_glue()
        if self.revision and ("/" in self.revision or self.revision.startswith(".")):
            problems.append(f"--revision {self.revision!r}: a revision is one folder name, e.g. chck_10M")
        for name in ("custom_prompts", "cloze_file"):
            value = getattr(self, name)
            if value and not Path(value).expanduser().is_file():
                problems.append(f"--{name.replace('_', '-')}: no file at {value}")
        if problems:
            raise UserError("\n".join([f"{len(problems)} problem(s) with the eval options:"] + [f"  - {p}" for p in problems]))

    def _check_glue(self) -> list[str]:
        from core.evaluate.babylm.finetune.head import POOLINGS
        from core.evaluate.babylm.finetune.tasks import parse_tasks

        problems = [] if self.pooling in POOLINGS else [f"--pooling: {self.pooling!r} is not first or last"]
        try:
            parse_tasks(self.tasks)
        except UserError as err:
            problems.append(str(err))
        return problems


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


def _load(opts: EvalOptions, ws: Workspace):
    import torch
    import transformers

    from core.generate import load_model, resolve_model

    transformers.utils.logging.disable_progress_bar()  # \r-animations are noise in logs and run.log

    if opts.device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is visible to torch here; use --device cpu")
    folder = resolve_model(opts.model, ws)
    model, tokenizer = load_model(folder, ws, device=opts.device or None)
    return folder, model, tokenizer


def _check_vocab(model, tokenizer, info) -> None:
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


def _plan(opts: EvalOptions, ws: Workspace, info, model, tokenizer) -> Plan:
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


def _run_suite(suite: str, opts: EvalOptions, plan: Plan, model, tokenizer, log, report=None) -> dict:
    from core.evaluate import cloze, generation, pairs, perplexity, speed

    if suite == "ppl":
        budget = opts.num_samples * (plan.seq_length - 1) + 1 if opts.num_samples else 0
        # Logits are windows x seq_length x vocab floats: long windows get fewer per pass.
        batch = max(1, min(opts.batch_size, PPL_TOKENS_PER_PASS // plan.seq_length))
        out = perplexity.perplexity(model, tokenizer, plan.text.files, plan.seq_length, batch, budget, log)
        return {**out, "data": plan.text.label, "data_kind": plan.text.kind, "data_sha256": plan.text.sha256}
    if suite == "gen":
        from core.generate import SamplingParams

        params = SamplingParams(max_new_tokens=opts.max_new_tokens, seed=opts.seed)
        out = generation.generation_metrics(model, tokenizer, plan.prompts, params, log)
        out["consistency"] = generation.consistency(model, tokenizer, max_new_tokens=min(24, opts.max_new_tokens))
        return out
    if suite == "cloze":
        return cloze.score_cloze(model, tokenizer, plan.cloze_items, opts.batch_size)
    if suite == "pairs":
        return pairs.score_pairs(model, tokenizer, plan.paradigms, opts.batch_size)
    if suite == "babylm":
        from core.evaluate.babylm import suite as babylm

        for warning in plan.babylm.warnings:
            log(f"  warning: {warning}")
        return babylm.run(
            model,
            tokenizer,
            plan.babylm,
            opts.batch_size,
            log,
            plan.babylm_layout,
            exact=opts.exact,
            trained_context=plan.trained_context,
        )
    if suite == "glue":
        from core.evaluate.babylm.finetune import suite as glue

        return glue.run(model, tokenizer, plan.glue, log, plan.glue_layout, report)
    if suite == "aoa":
        from core.evaluate.babylm import aoa

        for warning in plan.aoa.warnings:
            log(f"  warning: {warning}")
        return aoa.run(plan.aoa, model.device, opts.batch_size, log)
    if suite == "speed":
        return speed.speed_by_batch(model, seed=opts.seed, log=log)
    raise UserError(f"--suite {suite}: not available in this version")


def run_eval(opts: EvalOptions, ws: Workspace, *, history=None, job: str | None = None, log=print) -> tuple[dict, Path]:
    """Evaluate `opts.model`; returns (results, results folder). See the module docstring."""
    from core.evaluate import outputs

    opts.check()
    started = time.perf_counter()
    log(f"loading {opts.model}")
    folder, model, tokenizer = _load(opts, ws)
    info = model_info(folder, ws, history)
    if any(s in opts.suites for s in ("babylm", "aoa", "glue")) and (note := portability_note(info.folder)):
        info = replace(info, notes=(*info.notes, note))  # scores are fine; uploading it as it is is not
    _check_vocab(model, tokenizer, info)
    plan = _plan(opts, ws, info, model, tokenizer)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    target = output_dir(info, ws, stamp, opts.output)
    results = _header(opts, info, model, tokenizer, plan)
    for note in info.notes:
        log(f"note: {note}")
    for suite, reason in plan.skipped.items():
        log(f"skipping {suite}: {reason}")
    for i, suite in enumerate(plan.suites):
        log(f"[{i + 1}/{len(plan.suites)}] {suite}")
        t0 = time.perf_counter()
        report = None
        if history is not None and job:  # fine-tuning reports its optimizer steps while it runs
            report = lambda done, total: history.update_progress(job, done, total)  # noqa: E731
        results["suites"][suite] = _run_suite(suite, opts, plan, model, tokenizer, log, report)
        results["seconds"][suite] = time.perf_counter() - t0
        log(f"  {outputs.summary_line(suite, results['suites'][suite])}")
        if history is not None and job:
            history.update_progress(job, i + 1, len(plan.suites))
    results["seconds"]["total"] = time.perf_counter() - started
    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        outputs.write_all(work, results, curves=_curves(history, info.run))
        if target.exists():
            target.rmdir()  # an empty --output folder: the complete one takes its place
        work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if opts.output.endswith(".json"):  # the guide's --output-path results.json
        copy = Path(opts.output).expanduser()
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(target / "results.json", copy)
    log(f"results in {target} (report.html, results.json, samples.txt)")
    if history is not None:
        outputs.record_history(history, results, target, info.run or job, job)
    return results, target


def _header(opts: EvalOptions, info, model, tokenizer, plan: Plan) -> dict:
    from core.evaluate.scoring import context_token, model_context
    from core.tokenizer import adds_bos

    hashes = model_hashes(info.folder)
    return {
        "version": RESULTS_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {
            "ref": opts.model,
            "path": str(info.folder),
            "run": info.run,
            "step": info.step,
            "type": type(model).__name__,
            "n_params": sum(p.numel() for p in model.parameters()),
            "context": model_context(model),
            "device": str(model.device),
            "sha256": hashes["model_sha256"],
        },
        "tokenizer": {
            "vocab": len(tokenizer),
            "sha256": hashes["tokenizer_sha256"],
            "adds_bos": adds_bos(tokenizer),
            "context_token": tokenizer.convert_ids_to_tokens(context_token(tokenizer)),
        },
        "data": {"label": plan.text.label, "sha256": plan.text.sha256, "files": len(plan.text.files)} if plan.text else None,
        "options": opts.to_dict(),
        "suites": {},
        "skipped": dict(plan.skipped),
        "notes": list(info.notes),
        "seconds": {},
    }


def _curves(history, run: str | None) -> dict:
    """The run's training curves (loss, eval loss) for the report, when it has a history."""
    if history is None or run is None:
        return {}
    names = ("loss", "eval_loss")
    return {name: series for name in names if (series := history.metric_series(run, name))}
