"""A workspace at scale without training, the fixture of tests/studio/test_scale.py: finished runs
with generated metric rows (issue 14's 21 runs and 1.8M rows, one of them a 100k-step run of 600k
rows), written with executemany. Must not import gradio, torch or transformers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from core.history import History
from core.workspace import Workspace

# What the training loop logs every logging step, and eval_loss every EVAL_EVERY steps.
METRICS = ("loss", "lr", "grad_norm", "tokens_per_s", "eta_s", "epoch")
EVAL_EVERY = 100
TOKENS_PER_STEP = 4096


def fill_workspace(
    ws: Workspace, big_steps: int = 100_000, runs: int = 21, small_steps: int = 10_000, prefix: str = "scale"
) -> dict:
    """Create `runs` finished training runs: one of `big_steps` steps, the rest of `small_steps`,
    each logging METRICS every step (+ eval_loss). Returns {"runs": names, "rows": total rows}."""
    names, total = [], 0
    with History(ws.db_path) as h:
        for k in range(runs):
            name = f"{prefix}-{k:02d}"
            steps = big_steps if k == 0 else small_steps
            h.create_run(name, "train", {"model": {"name": name}, "training": {"max_steps": steps}}, ws.run_dir(name))
            run_id = h.get_run(name).id
            with h._write() as conn:  # one transaction per run: about 1 s per 600k rows
                conn.executemany(
                    "INSERT INTO metrics (run_id, step, name, value, time, tokens, words) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    _rows(run_id, steps, seed=k),
                )
                count = conn.execute("SELECT count(*) FROM metrics WHERE run_id = ?", (run_id,)).fetchone()[0]
            h.set_status(name, "finished", step=steps, total_steps=steps, started=1.0e9, ended=1.0e9 + steps / 10)
            names.append(name)
            total += count
    return {"runs": names, "rows": total}


def _rows(run_id: int, steps: int, seed: int) -> Iterator[tuple]:
    """A plausible run: a decaying noisy loss with one spike at 60 %, a warm-up/cosine lr."""
    t0 = 1.0e9
    spike = int(steps * 0.6)
    for step in range(1, steps + 1):
        noise = math.sin(step * 12.9898 + seed) * 0.05
        loss = 2.0 + 8.0 * math.exp(-step / (steps / 8)) + noise + (5.0 if step == spike else 0.0)
        values = {
            "loss": loss,
            "lr": 1e-3 * min(1.0, step / 100) * 0.5 * (1 + math.cos(math.pi * step / steps)),
            "grad_norm": 1.0 + abs(noise) * 4,
            "tokens_per_s": 9000.0 + noise * 1000,
            "eta_s": (steps - step) / 10,
            "epoch": step / steps,
        }
        if step % EVAL_EVERY == 0:
            values["eval_loss"] = loss + 0.1
        when, tokens = t0 + step / 10, step * TOKENS_PER_STEP
        for name, value in values.items():
            yield run_id, step, name, value, when, tokens, int(tokens * 0.75)


def spike_step(steps: int) -> int:
    """The step of the big loss spike `_rows` puts in every run (a downsampled plot must keep it)."""
    return int(steps * 0.6)
