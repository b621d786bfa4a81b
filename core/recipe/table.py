"""The recipe's comparison table: the three runs' BabyLM scoreboards side by side, read from each
eval's results.json, written as markdown to `<workspace>/recipes/<chain>/comparison.md` and
returned for printing (`babyllama report RUN...` makes the HTML page). Must not import gradio or torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from core.errors import UserError
from core.recipe import babyllama2023 as recipe


def scoreboards(opts, ws) -> dict[str, dict[str, float]]:
    """{run name: {task label: score}} from each model's eval results.json, in the recipe's order."""
    from core.recipe.chain import eval_dir, run_name

    boards = {}
    for model in recipe.MODELS:
        path = eval_dir(opts, ws, model) / "results.json"
        if not path.is_file():
            raise UserError(f"recipe table: {path} is missing; run the recipe again to evaluate {run_name(opts, model)}")
        results = json.loads(path.read_text(encoding="utf-8"))
        boards[run_name(opts, model)] = results["suites"]["babylm"]["scoreboard"]
    return boards


def format_table(boards: dict[str, dict[str, float]], published: bool) -> str:
    """Markdown: one row per task (in first-seen order), one column per run; `-` where a run lacks it."""
    runs = list(boards)
    tasks = list(dict.fromkeys(t for board in boards.values() for t in board))
    lines = ["| task | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    for task in tasks:
        cells = [f"{boards[r][task]:.2f}" if task in boards[r] else "-" for r in runs]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    scale = "" if published else "\nScale tiny: every model is the `tiny` preset for a few steps; NOT the published recipe.\n"
    return "# BabyLlama 2023: BabyLM scores (teachers and distilled student)\n" + scale + "\n" + "\n".join(lines) + "\n"


def write_table(opts, ws) -> str:
    """Write comparison.md (atomically) and return its text."""
    from core.recipe.chain import TABLE_FILE, chain_dir

    text = format_table(scoreboards(opts, ws), opts.scale == "published")
    out: Path = chain_dir(opts, ws) / TABLE_FILE
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    return text
