"""`babyllama report RUN [RUN ...]`: one HTML page comparing runs.

Training curves overlaid (from the history's metrics), the config keys that differ, the newest
evaluation of each run side by side (table, samples), and the guide's scaling view: perplexity
and speed against parameter count. Must not import gradio or torch.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from core.config.diff import config_diff
from core.errors import UserError
from core.evaluate import plots
from core.evaluate.report import chart_block, headline, page, table
from core.generate.text import shown_text

if TYPE_CHECKING:
    from core.history import Run

# Curves overlaid by step; minimal-pair accuracy exists for runs trained with eval.pairs_every.
CURVES = (("loss", "training loss"), ("eval_loss", "eval loss"), ("pairs_acc", "minimal-pair accuracy"))


def latest_results(history, run: Run) -> tuple[dict | None, Path | None]:
    """The newest complete evaluation of a run: recorded artifacts first, then `<run>/eval/*/`."""
    candidates = [Path(a["path"]) for a in history.artifacts(run.name, "eval")]
    if run.run_dir:
        candidates += sorted((Path(run.run_dir) / "eval").glob("*/results.json"))
    found = []
    for path in candidates:
        folder = path.parent if path.name == "results.json" else path
        if (folder / "results.json").is_file():
            found.append(folder)
    if not found:
        return None, None
    newest = max(found, key=lambda f: (f / "results.json").stat().st_mtime)
    return json.loads((newest / "results.json").read_text(encoding="utf-8")), newest


def _gather(history, names: list[str]) -> list[dict]:
    if not names:
        raise UserError("report: name at least one run (see `babyllama runs list`)")
    out = []
    for name in dict.fromkeys(names):
        run = history.get_run(name)
        if run is None:
            known = ", ".join(r.name for r in history.list_runs()[:10]) or "none yet"
            raise UserError(f"report: no run named {name!r} (runs: {known})")
        results, folder = latest_results(history, run)
        curves = {label: history.metric_series(name, metric) for metric, label in CURVES}
        out.append({"name": name, "run": run, "results": results, "folder": folder, "curves": curves})
    return out


def _charts(entries: list[dict]) -> list[plots.Chart]:
    charts = []
    for metric, label in CURVES:
        series = {e["name"]: e["curves"][label] for e in entries if e["curves"].get(label)}
        if series:
            charts.append(plots.line_chart(f"{label.capitalize()} by step", series, xlabel="step", ylabel=label))
    colors = {e["name"]: plots.COLORS[i % len(plots.COLORS)] for i, e in enumerate(entries)}
    sized = [(e["name"], e["results"]["model"]["n_params"], headline(e["results"])) for e in entries if e["results"]]
    for key, title in (("perplexity", "Perplexity vs model size"), ("best gen tok/s", "Generation speed vs model size")):
        points = [(name, n, h[key]) for name, n, h in sized if h[key] is not None]
        if points:
            charts.append(
                plots.scatter_chart(
                    title, points, xlabel="parameters", ylabel=key, log_x=True, log_y=key == "perplexity", colors=colors
                )
            )
    return charts


def _samples(entries: list[dict]) -> str:
    by_prompt: dict[str, dict[str, str]] = {}
    for e in entries:
        for s in ((e["results"] or {}).get("suites", {}).get("gen", {}) or {}).get("samples", []):
            by_prompt.setdefault(s["prompt"], {})[e["name"]] = shown_text(s["text"])
    if not by_prompt:
        return '<p class="muted">No generation samples: run `babyllama eval RUN --suite gen`.</p>'
    rows = [[prompt, *[texts.get(e["name"], "–") for e in entries]] for prompt, texts in by_prompt.items()]
    return table(["prompt", *[e["name"] for e in entries]], rows)


def _where(entry: dict) -> str:
    """The evaluation folder, relative to the run's folder when inside it."""
    folder, run_dir = entry["folder"], entry["run"].run_dir
    if folder is None:
        return "no evaluation yet"
    if run_dir and folder.is_relative_to(run_dir):
        return str(folder.relative_to(run_dir))
    return str(folder)


def compare_report(history, names: list[str]) -> str:
    """The comparison page for the named runs (each with its newest evaluation, if any)."""
    entries = _gather(history, names)
    eval_rows = []
    for e in entries:
        r = e["results"]
        h = headline(r) if r else {}
        eval_rows.append(
            [e["name"], e["run"].status, r["model"]["n_params"] if r else None, *[h.get(k) for k in headline({})], _where(e)]
        )
    diff = config_diff({e["name"]: e["run"].config for e in entries})
    title = "Comparison of " + ", ".join(e["name"] for e in entries)
    sections = [
        f"<h1>{escape(title)}</h1>",
        "<h2>Evaluations (newest of each run)</h2>",
        table(["run", "status", "parameters", *headline({}), "results"], eval_rows),
        chart_block(_charts(entries)),
        "<h2>Config differences</h2>",
        table(["key", *[e["name"] for e in entries]], diff) if diff else "<p>The configs are identical.</p>",
        "<h2>Samples side by side</h2>",
        _samples(entries),
    ]
    return page(title, sections)


def write_compare_report(history, names: list[str], output: str | Path) -> Path:
    """Write the comparison page to `output` (atomically) and return its path."""
    html = compare_report(history, names)
    out = Path(output).expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)
    return out
