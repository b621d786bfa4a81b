"""`--format babylm`: a BabyLM submission folder: the final model in `main/` and one transformers
folder per `chck_*` checkpoint of the run, and the README text with the exact commands to upload
them as revisions (branches) of one Hub model repository and to run the official evaluation
pipeline on them. Nothing is uploaded. Must not import gradio.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from core.errors import UserError
from core.portable import make_portable
from core.train.word_marks import BABYLM_MARKS, list_marks, mark_name

MAIN = "main"
# Training-only files of a checkpoint: a submission carries the model, its tokenizer and config.
TRAINING_ONLY = {"training_state.pt", "checkpoint.json"}
PIPELINE = "https://github.com/babylm/evaluation-pipeline-2025"


def export_babylm(model, tokenizer, work: Path, ctx: dict, save_main) -> dict:
    """Write `main/` (through `save_main`, the `hf` format) and a copy of every `chck_*` checkpoint
    of the run, each checked against its manifest first; returns what the README needs."""
    from core.train.checkpoint import verify

    info, log = ctx["info"], ctx["log"]
    run_dir = Path(info.run_dir or ctx["folder"])
    marks = list_marks(run_dir)
    if not marks:
        raise UserError(
            f"{ctx['opts'].model}: the run in {run_dir} has no chck_* checkpoints to export; "
            "train with training.checkpoint_words=babylm (or a list of word counts), "
            "or export it with --format hf"
        )
    for mark in marks:
        problem = verify(Path(mark["path"]))
        if problem:
            raise UserError(f"{mark['path']}: {problem}; delete that folder or re-train to export the run")
    (work / MAIN).mkdir()
    save_main(model, tokenizer, work / MAIN, ctx)
    if (run_dir / "config.yaml").is_file():
        shutil.copyfile(run_dir / "config.yaml", work / MAIN / "config.yaml")
    for mark in marks:
        target = work / mark["name"]
        target.mkdir()
        for path in sorted(Path(mark["path"]).iterdir()):
            if path.is_file() and path.name not in TRAINING_ONLY:
                shutil.copyfile(path, target / path.name)
        make_portable(target)  # checkpoints saved before core/portable.py existed load in 4.51.3 too
        log(f"{mark['name']}: step {mark['step']}, {mark['words']:,} words seen")
    track = getattr(getattr(info.config, "training", None), "babylm_track", "none")
    return {
        "babylm": {
            "main": ctx["folder"].name,
            "track": track,
            "checkpoints": [{k: m[k] for k in ("name", "step", "words")} for m in marks],
        }
    }


def readme_section(babylm: dict, folder: Path) -> list[str]:
    """README lines: the upload commands (`main` = the final model, a branch per checkpoint) and
    the evaluation pipeline's commands for those revisions."""
    names = [c["name"] for c in babylm["checkpoints"]]
    track = (
        babylm["track"]
        if babylm["track"] != "none"
        else ("strict" if any(c["words"] and c["words"] > 100_000_000 for c in babylm["checkpoints"]) else "strict-small")
    )
    expected = [mark_name(m) for m in BABYLM_MARKS if track == "strict" or m <= 100_000_000]
    missing = [n for n in expected if n not in names]
    lines = [
        "",
        "## BabyLM submission",
        "",
        f"`{MAIN}/` is the final model; each `chck_*/` folder is the checkpoint saved when words seen first "
        "reached its mark (model + tokenizer, loadable with `AutoModelForCausalLM` / `AutoTokenizer`):",
        "",
        "| revision | step | words seen |",
        "|---|---|---|",
    ]
    lines += [f"| `{c['name']}` | {c['step']} | {c['words']:,} |" for c in babylm["checkpoints"]]
    lines += [
        "",
        "Nothing has been uploaded. To publish them as revisions of one model repository (`main` = the final "
        "model, one branch per checkpoint), log in once (`hf auth login`), set `REPO`, and run:",
        "",
        "```bash",
        f"cd {shlex.quote(str(folder))}",
        "REPO=your-name/your-model   # the Hub repository (created if missing)",
        f'hf upload "$REPO" {MAIN} . --commit-message "final model"',
        'hf upload "$REPO" README.md README.md --commit-message "model card"   # this file, on main',
    ]
    lines += [
        f'hf upload "$REPO" {c["name"]} . --revision {c["name"]} '
        f'--commit-message "{c["name"]}: {c["words"]:,} words seen (step {c["step"]})"'
        for c in babylm["checkpoints"]
    ]
    lines += [
        "```",
        "",
        "`hf upload` creates the repository and each branch when missing (a new branch starts from `main`; "
        "the checkpoint's files replace main's). With an older `huggingface_hub`, `huggingface-cli upload` "
        "takes the same arguments.",
        "",
        f"Then, in a checkout of the official pipeline ({PIPELINE}), score the final model on the full suite "
        "and every checkpoint on the fast suite:",
        "",
        "```bash",
        'bash eval_zero_shot.sh "$REPO" causal evaluation_data/full_eval',
        f'bash eval_zero_shot_fast.sh "$REPO" {names[0]} causal evaluation_data/fast_eval   # one checkpoint',
        f'bash eval_zero_shot_fast_all_revisions.sh "$REPO" causal {track} evaluation_data/fast_eval',
        "```",
        "",
        f"`eval_zero_shot_fast_all_revisions.sh` loops over the {track} track's checkpoints, "
        f"{expected[0]} ... {expected[-1]}, and expects every one to exist on the Hub.",
    ]
    if missing:
        lines.append(
            f"This run lacks {len(missing)} of them ({', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}): "
            "score the ones it has with `eval_zero_shot_fast.sh`, one revision at a time."
        )
    return lines
