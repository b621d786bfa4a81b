"""`python -m benchmarks.cli_startup`: how long the CLI takes to start, each command in a fresh process:
`babyllama --help`, `babyllama runs list` on an empty workspace, bare `python -c pass` as the floor,
and which packages cost the most to import. Must not import torch, gradio or core.history.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from core.bench import require_at_least_one

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 1.0  # the issue: `babyllama --help` and `runs list` start in at most 1 s
# Packages that take a second or more to import; none belongs in `--help` or `runs list`.
HEAVY = ("torch", "transformers", "datasets", "gradio", "plotly", "pandas", "accelerate", "tokenizers")
PARSER_CODE = "import core.cli; core.cli.build_parser()"  # what `--help` runs before printing
_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")
_LOADED = (
    "import json, sys; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules if sys.modules[m]}} & set({heavy!r}))))"
)


@dataclass(frozen=True)
class CliBenchOptions:
    """What the start-up bench measures; the defaults take about 10 s on 2 idle CPU cores."""

    runs: int = 5  # timed runs per command (the median is reported)
    top: int = 10  # packages listed among the import offenders


def run_cli_bench(opts: CliBenchOptions, log=None) -> dict:
    """Time each command in fresh processes (interleaved, after one untimed warm-up) and list the
    packages that cost the most to import; the figures are medians over `opts.runs` runs."""
    require_at_least_one(opts, ("runs", "top"))
    log = log or (lambda message: None)
    with tempfile.TemporaryDirectory(prefix="babyllama-bench-cli-") as tmp:
        env, ws = _env(Path(tmp)), str(Path(tmp) / "workspace")
        cases = {
            "python": [sys.executable, "-c", "pass"],
            "help": [sys.executable, "-m", "core.cli", "--help"],
            "runs_list": [sys.executable, "-m", "core.cli", "runs", "list", "--workspace", ws],
        }
        log("warm-up: one untimed run of each command (bytecode cache, empty history)")
        for argv in cases.values():
            _timed(argv, env)
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for i in range(opts.runs):
            log(f"run {i + 1}/{opts.runs}")
            for name, argv in cases.items():  # interleaved, so a change of machine load hits every command
                samples[name].append(_timed(argv, env))
        offenders = {
            name: import_offenders([*cases[name][:1], "-X", "importtime", *cases[name][1:]], env, opts.runs, opts.top)
            for name in ("help", "runs_list")
        }
        heavy = {
            "help": heavy_modules(PARSER_CODE, env),
            "runs_list": heavy_modules(f"from core.cli import main; main(['runs', 'list', '--workspace', {ws!r}])", env),
        }
    commands = {name: _summary(rows) for name, rows in samples.items()}
    return {
        "commands": commands,
        "import_offenders": offenders,
        "heavy_modules": heavy,
        "target_s": TARGET_S,
        "meets_target": all(commands[n]["median_s"] <= TARGET_S for n in ("help", "runs_list")),
        "runs": opts.runs,
        **machine_info(),
    }


def _env(tmp: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    # As a user's installed copy runs: with bytecode, kept in a private cache (neither the
    # checkout nor the venv gets written).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    env["BABYLLAMA_WORKSPACE"] = str(tmp / "workspace")
    return env


def _timed(argv: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run; CPU time shows the cost apart from a busy machine."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"cli startup: `{' '.join(argv[1:])}` failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _summary(rows: list[tuple[float, float]]) -> dict:
    walls = [wall for wall, _ in rows]
    return {
        "median_s": round(statistics.median(walls), 4),
        "min_s": round(min(walls), 4),
        "max_s": round(max(walls), 4),
        "cpu_median_s": round(statistics.median(cpu for _, cpu in rows), 4),
        "samples_s": [round(w, 4) for w in walls],
    }


def parse_importtime(text: str) -> dict[str, int]:
    """Microseconds spent importing each top-level package (the sum of its modules' own times)
    from `python -X importtime` output."""
    totals: dict[str, int] = {}
    for line in text.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            package = match.group(4).split(".")[0]
            totals[package] = totals.get(package, 0) + int(match.group(1))
    return totals


def import_offenders(argv: list[str], env: dict, runs: int, top: int) -> list[dict]:
    """The `top` packages by median import time over `runs` runs of `argv` under -X importtime."""
    per_run = []
    for _ in range(runs):
        proc = subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        per_run.append(parse_importtime(proc.stderr))
    packages = {p for totals in per_run for p in totals}
    medians = {p: statistics.median(totals.get(p, 0) for totals in per_run) for p in packages}
    ranked = sorted(medians.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return [{"package": p, "ms": round(us / 1000, 1)} for p, us in ranked]


def heavy_modules(code: str, env: dict | None = None) -> list[str]:
    """Which HEAVY packages a fresh `python -c code` has imported by its end."""
    proc = subprocess.run(
        [sys.executable, "-c", code + "\n" + _LOADED.format(heavy=HEAVY)],
        env=env or _env_for_check(),
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"cli startup: the import check failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _env_for_check() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}


def machine_info() -> dict:
    """Date, machine and load: what a figure in docs/performance.md is quoted with."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass  # not Linux: platform's answer stands
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }


def format_report(r: dict) -> str:
    """The human summary printed without --json."""
    labels = {"python": "python -c pass", "help": "babyllama --help", "runs_list": "babyllama runs list (empty)"}
    lines = [
        f"{r['date']}, {r['cpu']} x{r['cpu_count']}, load {r['load_avg_1m']}, Python {r['python']}; "
        f"median of {r['runs']} fresh processes (wall; CPU = user + system)"
    ]
    for name, label in labels.items():
        c = r["commands"][name]
        lines.append(
            f"  {label:<30}{c['median_s']:>7.3f} s   (min {c['min_s']:.3f}, max {c['max_s']:.3f}, CPU {c['cpu_median_s']:.3f} s)"
        )
    for name in ("help", "runs_list"):
        top = ", ".join(f"{o['package']} {o['ms']:g}" for o in r["import_offenders"][name])
        lines.append(f"imports of {labels[name]} (ms): {top}")
        if r["heavy_modules"][name]:
            lines.append(f"  heavy packages loaded: {', '.join(r['heavy_modules'][name])}")
    verdict = "meet" if r["meets_target"] else "MISS"
    lines.append(f"--help and runs list {verdict} the {r['target_s']:g} s target (wall, on this machine's load)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The command line: time the commands and print the report."""
    d = CliBenchOptions()
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.cli_startup",
        description="start-up time of `babyllama --help` and `runs list` in fresh processes, "
        "and the packages that cost the most to import",
    )
    p.add_argument("--runs", type=int, default=d.runs, help=f"timed runs per command; the median is reported (default {d.runs})")
    p.add_argument("--top", type=int, default=d.top, help=f"import offenders listed per command (default {d.top})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    result = run_cli_bench(CliBenchOptions(runs=args.runs, top=args.top), log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=2) if args.json else format_report(result), flush=True)
    return 0


if __name__ == "__main__":
    from benchmarks import run

    sys.exit(run(main))
