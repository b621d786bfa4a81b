"""Pure functions that turn run rows into small HTML/Markdown pieces (status badge, progress).

No Gradio and no database here: tabs fetch, these format.
"""

from __future__ import annotations

import html
import time

from core.generate.text import shown_text
from core.history.runs import ACTIVE, FINAL, Run, Status
from core.liveness import status_text
from core.model.build import human
from core.train.callbacks import format_eta

STATUS_COLOURS = {
    "queued": "#9e9e9e",
    "running": "#1e88e5",
    "finished": "#43a047",
    "stopped": "#fb8c00",
    "failed": "#e53935",
    "lost": "#8e24aa",
}


def status_badge(run: Run | None, queue_position: int | None = None) -> str:
    """A coloured pill with the run's status (and its place in the queue)."""
    if not run:
        return '<span class="bl-badge" style="background:#bdbdbd">no run selected</span>'
    status = run.status
    # A live worker whose history writes wait on a locked database: `running (history writes delayed)`.
    text = f"queued #{queue_position}" if status == "queued" and queue_position else status_text(run)
    colour = STATUS_COLOURS.get(status, "#757575")
    return (
        f'<span class="bl-badge" id="run-status-{status}" style="background:{colour};color:white;'
        f'padding:3px 10px;border-radius:10px;font-weight:600">{html.escape(text)}</span> '
        f"<b>{html.escape(run.name)}</b>"
    )


def kept_model_note(best) -> str:
    """training.keep_best: which checkpoint the run's final model is (a `BestRecord`, or None)."""
    if best is None:
        return ""
    return (
        f'<div id="run-best" style="font-size:0.9em">kept model: step {best.step:,}, the lowest '
        f"{html.escape(best.metric)} ({best.value:.4f})</div>"
    )


def progress_html(run: Run | None, last: dict[str, float], tokens: int | None, words: int | None) -> str:
    """Progress bar with step/total, ETA, throughput and tokens/words seen."""
    if not run:
        return ""
    step, total = run.step or 0, run.total_steps or 0
    pct = 100.0 * step / total if total else 0.0
    eta = format_eta(last.get("eta_s")) if run.status == "running" else "-"
    elapsed = _elapsed(run)
    parts = [f"step {step:,}/{total:,}" if total else f"step {step:,}", f"ETA {eta}", f"elapsed {elapsed}"]
    if last.get("tokens_per_s"):
        parts.append(f"{last['tokens_per_s']:,.0f} tok/s")
    if tokens:
        parts.append(f"{human(tokens)} tokens")
    if words:
        parts.append(f"{human(words)} words seen")
    error = ""
    if run.error and run.status in FINAL - {Status.FINISHED}:
        error = (
            f'<div style="color:#c62828;margin-top:6px"><b>{html.escape(run.error)}</b><br>{html.escape(run.hint or "")}</div>'
        )
    return (
        f'<div id="train-progress"><div style="background:#eee;border-radius:6px;height:14px;overflow:hidden">'
        f'<div style="width:{pct:.1f}%;background:#1e88e5;height:14px"></div></div>'
        f'<div style="margin-top:4px;font-size:0.9em">{pct:.1f}% · {" · ".join(parts)}</div>{error}</div>'
    )


def _elapsed(run: Run) -> str:
    if not run.started:
        return "-"
    end = run.ended if run.status not in ACTIVE else None
    return format_eta((end or time.time()) - run.started)


def samples_markdown(samples: list[dict]) -> str:
    """The latest step's generations: prompt in bold, continuation after it."""
    if not samples:
        return "_Samples appear at each evaluation._"
    step = samples[0]["step"]
    latest = [s for s in samples if s["step"] == step]
    lines = [f"**Samples at step {step}**"]
    lines += [f"- **{html.escape(s['prompt'])}**{html.escape(shown_text(s['text']))}" for s in reversed(latest)]
    return "\n".join(lines)


def queue_markdown(queued: list[tuple[int, str]]) -> str:
    """`1. name` lines for the runs waiting in the queue."""
    if not queued:
        return ""
    return "**Queue:** " + ", ".join(f"#{pos} {html.escape(name)}" for pos, name in queued)
