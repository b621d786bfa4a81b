"""A workspace at scale without training: finished runs with generated metric rows (issue 14's
21 runs and 1.8M rows, one of them a 100k-step run of 600k rows), written with executemany.

Used by the studio's scale test (tests/studio/test_scale.py) and `babyllama bench studio-scale`,
which also measures the studio server's memory per browser session (Playwright, chromium). Must
not import gradio, torch or transformers (the studio runs as its own process).
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

from core.history import History
from core.workspace import Workspace

# What the training loop logs every logging step, and eval_loss every EVAL_EVERY steps.
METRICS = ("loss", "lr", "grad_norm", "tokens_per_s", "eta_s", "epoch")
EVAL_EVERY = 100
TOKENS_PER_STEP = 4096


def fill_workspace(ws: Workspace, big_steps: int = 100_000, runs: int = 21, small_steps: int = 10_000,
                   prefix: str = "scale") -> dict:
    """Create `runs` finished training runs: one of `big_steps` steps, the rest of `small_steps`,
    each logging METRICS every step (+ eval_loss). Returns {"runs": names, "rows": total rows}."""
    names, total = [], 0
    with History(ws.db_path) as h:
        for k in range(runs):
            name = f"{prefix}-{k:02d}"
            steps = big_steps if k == 0 else small_steps
            h.create_run(name, "train", {"model": {"name": name}, "training": {"max_steps": steps}},
                         ws.run_dir(name))
            run_id = h.get_run(name)["id"]
            with h._write() as conn:  # one transaction per run: about 1 s per 600k rows
                conn.executemany(
                    "INSERT INTO metrics (run_id, step, name, value, time, tokens, words) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    _rows(run_id, steps, seed=k))
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
        values = {"loss": loss, "lr": 1e-3 * min(1.0, step / 100) * 0.5 * (1 + math.cos(math.pi * step / steps)),
                  "grad_norm": 1.0 + abs(noise) * 4, "tokens_per_s": 9000.0 + noise * 1000,
                  "eta_s": (steps - step) / 10, "epoch": step / steps}
        if step % EVAL_EVERY == 0:
            values["eval_loss"] = loss + 0.1
        when, tokens = t0 + step / 10, step * TOKENS_PER_STEP
        for name, value in values.items():
            yield run_id, step, name, value, when, tokens, int(tokens * 0.75)


def spike_step(steps: int) -> int:
    """The step of the big loss spike `_rows` puts in every run (a downsampled plot must keep it)."""
    return int(steps * 0.6)


def measure_studio_scale(tmp: Path, sessions: int = 2, big_steps: int = 100_000, log=print) -> dict:
    """`babyllama bench studio-scale`: fill a workspace in `tmp`, time `runs list` there and on an
    empty one, then start the studio and open `sessions` browser pages that each pick the big run
    in the Train tab: the seconds until its last step is in the plot and the server's RSS after
    each, and after the pages closed."""
    import psutil

    from core.bench.page import chromium_page, running_studio

    ws, empty = Workspace(tmp / "ws").ensure(), Workspace(tmp / "empty").ensure()
    started = time.perf_counter()
    made = fill_workspace(ws, big_steps=big_steps)
    result = {"runs": len(made["runs"]), "rows": made["rows"], "big_run_steps": big_steps,
              "fill_s": round(time.perf_counter() - started, 1),
              "runs_list_s": _runs_list_seconds(ws), "runs_list_empty_s": _runs_list_seconds(empty)}
    log(f"{made['rows']:,} rows in {result['fill_s']} s; runs list {result['runs_list_s']} s "
        f"(empty workspace {result['runs_list_empty_s']} s)")
    with running_studio(ws.root, tmp / "studio.log") as url, chromium_page() as first:
        server = next(p for p in psutil.Process().children(recursive=True)
                      if any(Path(part).name == "launch.py" for part in p.cmdline()))
        rss = [server.memory_info().rss]
        pages, plot_s = [first], []
        for k in range(sessions):
            if k:  # another page: another Gradio session with its own state
                pages.append(first.context.browser.new_page())
            page = pages[-1]
            plot_s.append(_pick_big_run(page, url, made["runs"][0], big_steps))
            rss.append(server.memory_info().rss)
            log(f"session {k + 1}: plotted in {plot_s[-1]:.1f} s; server RSS {rss[-1] / 2**30:.2f} GB")
        for page in pages[1:]:
            page.close()
        first.goto("about:blank")
        time.sleep(5)  # the server notices the closed streams
        rss.append(server.memory_info().rss)
    gb = [round(r / 2**30, 3) for r in rss]
    result.update(plot_s=[round(s, 2) for s in plot_s], server_rss_gb=gb[:-1], server_rss_closed_gb=gb[-1],
                  per_session_mb=round((rss[sessions] - rss[0]) / sessions / 2**20, 1),
                  target_per_session_mb=TARGET_SESSION_MB)
    return result


TARGET_SESSION_MB = 50  # issue 14: at most 50 MB more server memory per attached session


def _runs_list_seconds(ws: Workspace) -> float:
    """Wall seconds of `babyllama runs list` in its own process (the user's view: start-up included)."""
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "core.cli", "runs", "list", "--workspace", str(ws.root)],
                   check=True, capture_output=True, env=env, cwd=root)
    return round(time.perf_counter() - started, 2)


# The last x of the plot's `loss` trace (null before there is one).
LAST_X_JS = """() => { const p = document.querySelector('#train-plot .js-plotly-plot');
    const t = p && p.data ? p.data.find(d => d.name === 'loss') : null;
    return t && t.x && t.x.length ? Number(t.x[t.x.length - 1]) : null; }"""


def _pick_big_run(page, url: str, run: str, last_step: int) -> float:
    """Open the Train tab, pick `run`, and return the seconds until its last step is plotted."""
    from core.bench.page import _choose

    page.bring_to_front()  # chromium throttles a page in the background: Plotly draws in animation frames
    page.goto(url)
    page.click("#tab-train-button")
    page.wait_for_selector("#train-run input")
    started = time.perf_counter()
    _choose(page, "train-run", run)
    deadline = started + 120
    while page.evaluate(LAST_X_JS) != last_step:  # polled from here: rAF polling stalls headless
        if time.perf_counter() > deadline:
            raise RuntimeError(f"bench studio-scale: step {last_step} of {run} not plotted within 120 s")
        page.wait_for_timeout(100)
    return time.perf_counter() - started


def format_scale(r: dict) -> str:
    """The human-readable report of `measure_studio_scale`."""
    return "\n".join([
        f"bench studio-scale: {r['runs']} finished runs, {r['rows']:,} metric rows (one run of "
        f"{r['big_run_steps']:,} steps), generated in {r['fill_s']} s",
        f"  runs list                 {r['runs_list_s']:.2f} s   (empty workspace {r['runs_list_empty_s']:.2f} s)",
        f"  big run picked -> plotted {', '.join(f'{s:.1f} s' for s in r['plot_s'])} (one per session)",
        f"  studio server RSS         {' -> '.join(f'{g:.2f}' for g in r['server_rss_gb'])} GB as sessions attach; "
        f"{r['server_rss_closed_gb']:.2f} GB after they closed",
        f"  per attached session      {r['per_session_mb']:.1f} MB (target <= {r['target_per_session_mb']} MB)",
    ])
