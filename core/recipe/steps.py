"""Start one recipe step's job exactly as its CLI command would (`tokenizer train`, `train`,
`distill`, `eval --suite babylm`), with the command shown in `runs show`. Must not import gradio,
studio or torch (the distill step's teacher check imports torch inside `jobs.start`).
"""

from __future__ import annotations

from core import config as config_mod
from core import jobs
from core.config import presets
from core.recipe import babyllama2023 as recipe
from core.recipe.babyllama2023 import Step


def start(opts, step: Step, ws, history) -> dict:
    """Start `step`'s job under its fixed name; returns the job's row."""
    from core.recipe.chain import job_name

    ws_arg = ["--workspace", str(ws.root)]
    if step.kind == "tokenize":
        vocab = recipe.VOCAB[opts.scale]
        params = {"data": opts.data, "vocab_size": vocab, "min_frequency": 2, "output": _tokenizer(opts)}
        argv = [
            "babyllama",
            "tokenizer",
            "train",
            "--data",
            opts.data,
            "--vocab-size",
            str(vocab),
            "--min-frequency",
            "2",
            "--name",
            params["output"],
            *ws_arg,
        ]
        return jobs.start_task("tokenize", params, ws, history, name=job_name(opts, step), command=jobs.format_command(argv))
    if step.kind == "eval":
        return _start_eval(opts, step, ws, history)
    return _start_model(opts, step, ws, history)


def model_overrides(opts, step: Step) -> list[str]:
    """The `section.key=value` overrides of a train/distill step: data, tokenizer, name, teachers, scale."""
    from core.recipe.chain import run_name

    out = [f"data.train_path={opts.data}", f"data.tokenizer_path={_tokenizer(opts)}", f"model.name={run_name(opts, step.model)}"]
    if step.kind == "distill":
        out.append("distillation.teacher_models=" + ",".join(run_name(opts, d) for d in step.depends_on))
    return out + list(recipe.overrides_for(step, opts.scale))


def _start_model(opts, step: Step, ws, history) -> dict:
    from core.config.resolve import data_checker
    from core.recipe.chain import run_name

    preset = recipe.preset_for(step, opts.scale)
    overrides = model_overrides(opts, step)
    cfg = config_mod.load(presets.find(preset, ws), overrides, checks=[data_checker(ws, require=True)])
    argv = ["babyllama", step.kind, "--config", preset, *overrides, "--workspace", str(ws.root)]
    return jobs.start(step.kind, cfg, ws, history, name=run_name(opts, step.model), command=jobs.format_command(argv))


def _start_eval(opts, step: Step, ws, history) -> dict:
    from core.evaluate.options import EvalOptions
    from core.recipe.chain import eval_dir, job_name, run_name

    model = run_name(opts, step.model)
    out = eval_dir(opts, ws, step.model)
    eval_opts = EvalOptions(model=model, suites=("babylm",), babylm_data=opts.babylm_data, output=str(out), suites_given=True)
    eval_opts.check()
    argv = ["babyllama", "eval", model, "--suite", "babylm", "--output", str(out)]
    argv += ["--babylm-data", opts.babylm_data] if opts.babylm_data else []
    return jobs.start_task(
        "eval",
        eval_opts.to_dict(),
        ws,
        history,
        name=job_name(opts, step),
        command=jobs.format_command(argv + ["--workspace", str(ws.root)]),
    )


def _tokenizer(opts) -> str:
    from core.recipe.chain import tokenizer_name

    return tokenizer_name(opts)
