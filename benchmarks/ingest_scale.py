"""Ingest at scale (issue 19, item 7): N simulated runs log every step as events (no training), and
the studio's poll (`core.events.ingest.ingest_all`) applies them to a fresh studio.db. Prints the
ingest throughput in metric rows/s, the cost of a poll when nothing changed, and studio.db bytes per
million rows. Not shipped; run from the checkout:

    PYTHONPATH=. python benchmarks/ingest_scale.py --runs 100 --steps 2500 --metrics 4 --poll-steps 25

The lines are written with the log's own format (`Event.line`) but buffered, without EventLog's
fsync per batch: generating them is not what is measured.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from core.events.ingest import ingest_all
from core.events.log import EVENTS_FILE, Event
from core.history import History
from core.workspace import Workspace

METRICS = ("loss", "lr", "grad_norm", "tokens_per_s", "eval_loss", "pairs_acc", "ce_loss", "kl_loss")


def make_runs(ws: Workspace, history: History, runs: int) -> list[Path]:
    folders = []
    for i in range(runs):
        name = f"sim-{i:04d}"
        folder = ws.root / "models" / name
        folder.mkdir(parents=True)
        (folder / "job.json").write_text(
            json.dumps({"kind": "train", "name": name, "history": "events", "workspace": str(ws.root), "num_processes": 1})
        )
        history.create_run(name, "train", {}, folder)
        history.set_status(name, "running", host="node-sim")
        folders.append(folder)
    return folders


def write_steps(folders: list[Path], first: int, last: int, names: tuple[str, ...], seqs: list[int]) -> None:
    """Steps first..last of every run: one metrics event per step, a heartbeat every 10 steps."""
    now = time.time()
    for i, folder in enumerate(folders):
        lines = []
        for step in range(first, last + 1):
            seqs[i] += 1
            rows = [[step, name, 1.0 / (step + j), now, step * 4096, step * 3000] for j, name in enumerate(names)]
            lines.append(Event(seqs[i], now, "metrics", {"rows": rows}).line())
            if step % 10 == 0:
                seqs[i] += 1
                lines.append(Event(seqs[i], now, "heartbeat", {"step": step, "total_steps": None}).line())
        with open(folder / EVENTS_FILE, "ab") as f:
            f.write(b"".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=2500, help="steps per run, each logging --metrics rows")
    parser.add_argument("--metrics", type=int, default=4, choices=range(1, len(METRICS) + 1))
    parser.add_argument("--poll-steps", type=int, default=25, help="steps every run writes between two polls")
    parser.add_argument("--dir", default=None, help="where to make the workspace (default: a temp folder)")
    args = parser.parse_args()
    names = METRICS[: args.metrics]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        ws = Workspace(Path(tmp) / "ws").ensure()
        with History(ws.db_path) as history:
            folders = make_runs(ws, history, args.runs)
            seqs, applied, busy, polls = [0] * args.runs, 0, 0.0, 0
            for first in range(1, args.steps + 1, args.poll_steps):
                write_steps(folders, first, min(first + args.poll_steps - 1, args.steps), names, seqs)
                start = time.perf_counter()
                applied += ingest_all(history, ws)
                busy += time.perf_counter() - start
                polls += 1
            start = time.perf_counter()
            idle_polls = 20
            for _ in range(idle_polls):
                assert ingest_all(history, ws) == 0
            idle = (time.perf_counter() - start) / idle_polls
            rows = history.conn.execute("SELECT count(*) FROM metrics").fetchone()[0]
            history.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = ws.db_path.stat().st_size
        assert applied == sum(seqs), (applied, sum(seqs))
        assert rows == args.runs * args.steps * len(names), rows
    print(f"machine: {platform.node()} ({platform.processor() or platform.machine()}), python {platform.python_version()}")
    print(
        f"{args.runs} runs x {args.steps} steps x {len(names)} metrics = {rows:,} rows in {applied:,} events, "
        f"{polls} polls of {args.poll_steps} steps each"
    )
    print(
        f"ingest: {busy:.2f} s busy, {rows / busy:,.0f} rows/s, {applied / busy:,.0f} events/s, "
        f"{busy / polls * 1000:.0f} ms per poll of {args.runs * args.poll_steps * len(names):,} rows"
    )
    print(f"idle poll (nothing new, {args.runs} runs): {idle * 1000:.1f} ms")
    print(f"studio.db: {size:,} bytes = {size / rows * 1e6 / 2**20:,.0f} MiB per million rows")


if __name__ == "__main__":
    main()
