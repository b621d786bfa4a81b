"""`babyllama export`: one model (run name, checkpoint or causal-LM folder) into one output folder.

Order: check options and the output folder (an existing non-empty one is refused), load the model,
write everything into a hidden temp folder beside the target and rename it into place (a failed
export never leaves a folder that looks complete), then record the export in the history.
The CLI, the worker (`export` jobs) and the studio call `run_export`. Must not import gradio.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from core.errors import UserError
from core.export import FORMATS
from core.portable import make_portable
from core.workspace import Workspace

RESULT_FILE = "export.json"


class ExportCheckFailed(RuntimeError):
    """The ONNX file was written but its logits do not match PyTorch's within tolerance."""


@dataclass
class ExportOptions:
    """Everything `babyllama export` takes; also the params of an `export` job (to_dict/from_dict)."""

    model: str
    format: str
    output: str = ""  # target folder; "" = <workspace>/exports/<run>-<format>/
    data: str = ""  # int8 perplexity text: corpus/folder/file; "" = the run's dev split
    max_tokens: int = 100_000  # int8 perplexity: at most this many tokens (0 = the whole split)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict) -> "ExportOptions":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def check(self) -> None:
        """Raise one UserError listing every bad option (before anything is loaded)."""
        problems = []
        if not str(self.model).strip():
            problems.append("model: none given; pick a run name or a model folder")
        if self.format not in FORMATS:
            problems.append(f"--format: unknown format {self.format!r}; choose one of {', '.join(FORMATS)}")
        if self.max_tokens < 0:
            problems.append(f"--max-tokens: must be 0 (all) or more, got {self.max_tokens}")
        if problems:
            raise UserError("\n".join([f"{len(problems)} problem(s) with the export options:"] + [f"  - {p}" for p in problems]))


def default_output(folder: Path, ws: Workspace, fmt: str) -> Path:
    """<workspace>/exports/<run>[-step<N>|-chck_<N>M]-<format>/ for a model folder (a checkpoint keeps its step or mark)."""
    name = folder.name
    if name.startswith("checkpoint-") and name[len("checkpoint-") :].isdigit():
        name = f"{folder.parent.name}-step{name[len('checkpoint-') :]}"
    elif name.startswith("chck_"):  # a BabyLM word mark keeps its name: <run>-chck_1M-hf
        name = f"{folder.parent.name}-{name}"
    return ws.root / "exports" / f"{name}-{fmt}"


def plan_output(opts: ExportOptions, ws: Workspace) -> tuple[Path, Path]:
    """(model folder, target folder), after checking both; the target must be new or empty."""
    from core.model.folders import resolve_model

    opts.check()
    folder = resolve_model(opts.model, ws)
    target = Path(opts.output).expanduser().resolve() if opts.output else default_output(folder, ws, opts.format)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        flag = "--output" if opts.output else "output folder"
        raise UserError(
            f"{flag}: {target} already exists and is not empty; nothing was overwritten. Remove it, or give --output NEW_FOLDER"
        )
    return folder, target


def _export_hf(model, tokenizer, work: Path, ctx: dict) -> dict:
    model.save_pretrained(str(work))  # safetensors; no optimizer or scheduler state, no checkpoints
    tokenizer.save_pretrained(str(work))
    make_portable(work)  # loads in transformers 4.x (the BabyLM pipeline's pin) and 5.x alike
    if (ctx["folder"] / "generation_config.json").is_file() and not (work / "generation_config.json").exists():
        shutil.copyfile(ctx["folder"] / "generation_config.json", work / "generation_config.json")
    return {}


def _export_onnx(model, tokenizer, work: Path, ctx: dict) -> dict:
    from core.export import onnx_model

    log = ctx["log"]
    log("exporting to ONNX with torch.onnx.export(dynamo=True)")
    path = onnx_model.export_onnx(model, work / onnx_model.ONNX_FILE)
    log("checking onnxruntime logits against PyTorch")
    check = onnx_model.check_onnx(model, path)
    onnx_model.write_check(work, check)
    log(
        f"check: max abs diff {check['max_abs_diff']:.3g}, tolerance {check['tolerance']:.3g}: "
        f"{'pass' if check['passed'] else 'FAIL'} ({len(check['shapes'])} shapes)"
    )
    model.config.save_pretrained(str(work))  # config.json: context length and vocabulary for runners
    tokenizer.save_pretrained(str(work))
    make_portable(work)
    return {"check": check, "size_mb": onnx_model.file_mb(path)}


def _export_int8(model, tokenizer, work: Path, ctx: dict) -> dict:
    from core.evaluate.inputs import default_eval_text, resolve_eval_text
    from core.export import int8, onnx_model

    info, log = ctx["info"], ctx["log"]
    text = resolve_eval_text(ctx["opts"].data, ctx["ws"]) if ctx["opts"].data else default_eval_text(info, ctx["ws"])[0]
    if text is None:
        raise UserError(f"--data: int8 reports perplexity before and after, and {default_eval_text(info, ctx['ws'])[1]}")
    fp32 = work / ".fp32.onnx"
    out = _export_onnx(model, tokenizer, work, ctx)
    (work / onnx_model.ONNX_FILE).rename(fp32)
    if Path(str(work / onnx_model.ONNX_FILE) + ".data").exists():
        (Path(str(work / onnx_model.ONNX_FILE) + ".data")).rename(Path(str(fp32) + ".data"))
    log("quantizing to int8 with onnxruntime.quantization.quantize_dynamic")
    target = int8.quantize(fp32, work / int8.INT8_FILE)
    seq = info.config.data.seq_length if info.config is not None else onnx_model.context_of(model)
    report = int8.int8_report(model, tokenizer, fp32, target, text, seq, ctx["opts"].max_tokens, log)
    report["fp32_check"] = out["check"]
    int8.write_report(work, report)
    for leftover in work.glob(".fp32.onnx*"):
        leftover.unlink()  # the float32 file is the `onnx` format's job
    log(int8.summary(report))
    return {"int8": report, "check": out["check"], "size_mb": report["size"]["int8_onnx_mb"]}


def _export_babylm(model, tokenizer, work: Path, ctx: dict) -> dict:
    from core.export.babylm import export_babylm

    return export_babylm(model, tokenizer, work, ctx, save_main=_export_hf)


_FORMATS = {"hf": _export_hf, "onnx": _export_onnx, "int8": _export_int8, "babylm": _export_babylm}


def run_export(opts: ExportOptions, ws: Workspace, *, history=None, job: str | None = None, log=print) -> tuple[dict, Path]:
    """Export `opts.model` in `opts.format`; returns (result, output folder). See the module docstring."""
    from core.evaluate.inputs import model_info
    from core.export.card import model_card
    from core.generate import load_model

    started = time.perf_counter()
    folder, target = plan_output(opts, ws)
    info = model_info(folder, ws, history)
    log(f"loading {opts.model} ({folder})")
    import transformers

    transformers.utils.logging.disable_progress_bar()  # \r-animations are noise in logs and run.log
    model, tokenizer = load_model(folder, ws, device="cpu")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    try:
        ctx = {"folder": folder, "info": info, "opts": opts, "ws": ws, "log": log}
        out = _FORMATS[opts.format](model, tokenizer, work, ctx)
        run_config = (
            next((p for p in (folder / "config.yaml", info.run_dir / "config.yaml") if p.is_file()), None)
            if info.config is not None
            else None
        )
        if run_config is not None:  # the resolved run config: eval and chat rebuild from it
            shutil.copyfile(run_config, work / "config.yaml")
        result = {
            "format": opts.format,
            "model": opts.model,
            "source": str(folder),
            "run": info.run,
            "step": info.step,
            "output": str(target),
            **out,
        }
        files = sorted([p.name for p in work.iterdir()] + ["README.md", RESULT_FILE])
        run_row = history.get_run(info.run) if history is not None and info.run else None
        (work / "README.md").write_text(
            model_card(
                model, tokenizer, info, opts.format, history=history, run_row=run_row, files=files, extra=_card_extra(out, target)
            ),
            encoding="utf-8",
        )
        result["files"], result["seconds"] = files, time.perf_counter() - started
        (work / RESULT_FILE).write_text(json.dumps(result, indent=1), encoding="utf-8")
        if target.exists():
            target.rmdir()  # an empty --output folder: the complete one takes its place
        work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"exported to {target}")
    if history is not None:
        for owner in dict.fromkeys(r for r in (info.run, job) if r):
            history.add_artifact(owner, "export", target, extra={"format": opts.format, "passed": _passed(result)})
    if not _passed(result):
        raise ExportCheckFailed(
            f"{target}: onnxruntime logits differ from PyTorch by {result['check']['max_abs_diff']:.3g} "
            f"(tolerance {result['check']['tolerance']:.3g}); see {target / 'onnx_check.json'}"
        )
    return result, target


def _passed(result: dict) -> bool:
    return result.get("check", {}).get("passed", True)


def _card_extra(out: dict, target: Path) -> list[str]:
    lines = []
    if "babylm" in out:
        from core.export.babylm import readme_section

        lines += readme_section(out["babylm"], target)
    if "check" in out:
        c = out["check"]
        lines += [
            "",
            "## ONNX check",
            "",
            f"onnxruntime vs PyTorch logits on {len(c['shapes'])} input shapes: max abs diff {c['max_abs_diff']:.3g}, "
            f"tolerance {c['tolerance']:.3g}: {'passed' if c['passed'] else 'FAILED'} (details: `onnx_check.json`).",
        ]
    if "int8" in out:
        from core.export.int8 import summary

        lines += ["", "## int8 quantization", "", summary(out["int8"]) + " (details: `int8_report.json`)."]
    return lines


def start_export_job(opts: ExportOptions, ws: Workspace, history, *, command: str = "", backend=None) -> dict:
    """Check the options, fix the output folder, and start an `export` job (`backend`: as a SLURM
    job, `core.backends`); returns its row.

    The folder is decided now, so the studio and `--detach` can show it at once; a live export
    job that already writes there is refused."""
    import re

    from core import jobs
    from core.history import ACTIVE

    _, target = plan_output(opts, ws)
    opts = ExportOptions.from_dict({**opts.to_dict(), "output": str(target)})
    for run in history.list_runs(kind="export"):
        if (
            (run.config or {}).get("output") == str(target)
            and run.status in ACTIVE
            and jobs.refresh(history, run.name).status in ACTIVE
        ):
            raise UserError(f"export job {run.name!r} is already writing {target}; wait for it, or give another --output")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(opts.model).name).strip("-.") or "model"
    name = history.free_name(f"export-{stem}-{opts.format}"[:100])
    return jobs.start_task("export", opts.to_dict(), ws, history, name=name, command=command, backend=backend)
