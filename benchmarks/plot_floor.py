"""`python -m benchmarks.plot_floor`: what a browser costs to keep a live Plotly chart current, by itself.

The same 2 x 2 dashboard shape the Train tab draws (5 traces, 300 points each) is updated once a
second in headless chromium, one way per phase, and the CPU of the browser's processes (cores =
CPU seconds per second) is measured:

- `idle`: the chart is drawn once and left alone (the page's own cost);
- `extend`: `Plotly.extendTraces`, one new point per trace (the cheapest update Plotly has);
- `react`: `Plotly.react` with the whole new figure;
- `react+resize`: `Plotly.react` then `Plotly.Plots.resize`, what Gradio's `gr.Plot` does on
  every new value.

On a machine whose cores a CPU training run keeps busy, `extend - idle` is the least a browser
on the same machine can take from it per live chart. The page is built from the plotly.js that
ships with the `plotly` package: nothing is fetched; chromium comes from `core.bench.browser`.
Must not import gradio or torch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

MODES = ("idle", "extend", "react", "react+resize")

PAGE = """<!doctype html><html><head><meta charset="utf-8"><script src="plotly.min.js"></script></head>
<body><div id="p" style="width:1300px;height:560px"></div><script>
const n0 = 300;
let n = n0;
function figure(n) {
  const xs = Array.from({length: n}, (_, i) => i);
  const trace = (axis, f) => ({x: xs, y: xs.map(f), xaxis: 'x' + axis, yaxis: 'y' + axis, mode: 'lines'});
  return {data: [trace('', i => 5 / (1 + i / 50)), trace('', i => 4.8 / (1 + i / 50)), trace('2', i => i / 1e3),
                 trace('3', i => 1 + Math.sin(i)), trace('4', i => 6000 + 100 * Math.cos(i))],
          layout: {grid: {rows: 2, columns: 2, pattern: 'independent'}, height: 560, autosize: true}};
}
const first = figure(n);
Plotly.newPlot('p', first.data, first.layout, {responsive: true});
const mode = decodeURIComponent(location.hash.slice(1));
setInterval(() => {
  n += 1;
  if (mode === 'extend') {
    const y = [5 / (1 + n / 50), 4.8 / (1 + n / 50), n / 1e3, 1 + Math.sin(n), 6000 + 100 * Math.cos(n)];
    Plotly.extendTraces('p', {x: y.map(() => [n]), y: y.map(v => [v])}, [0, 1, 2, 3, 4]);
  } else if (mode === 'react' || mode === 'react+resize') {
    const f = figure(n);
    Plotly.react('p', f.data, f.layout, {responsive: true});
    if (mode === 'react+resize') Plotly.Plots.resize('p');
  }
}, 1000);
</script></body></html>
"""


def _browser_cpu_seconds() -> dict[int, float]:
    """CPU seconds used so far by each of this process's descendants (Playwright's driver and
    chromium's processes), by pid."""
    import psutil

    out = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            times = proc.cpu_times()
            out[proc.pid] = times.user + times.system
        except psutil.Error:
            continue
    return out


def _cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two readings by the processes present at both (one that ended
    meanwhile would otherwise subtract its whole lifetime)."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


def measure_plot_floor(folder: Path, seconds: float = 20.0, modes=MODES, log=print) -> dict:
    """Chromium's cores in each mode, measured for `seconds` after a 3 s settling period."""
    import plotly

    from core.bench.browser import chromium_page

    folder.mkdir(parents=True, exist_ok=True)
    js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    (folder / "plotly.min.js").write_bytes(js.read_bytes())
    (folder / "page.html").write_text(PAGE, encoding="utf-8")
    cores = {}
    with chromium_page(viewport=(1400, 1600)) as page:
        for mode in modes:
            page.goto((folder / "page.html").as_uri() + "#" + mode)
            page.reload()  # a new hash alone would not restart the page's timer
            page.wait_for_function("() => document.querySelector('#p .main-svg') !== null", timeout=30_000)
            page.wait_for_timeout(3000)
            cpu0, wall0 = _browser_cpu_seconds(), time.monotonic()
            page.wait_for_timeout(seconds * 1000)
            cores[mode] = _cpu_between(cpu0, _browser_cpu_seconds()) / (time.monotonic() - wall0)
            log(f"{mode:<13} {cores[mode]:.3f} cores")
    n_cpu = os.cpu_count() or 1
    extra = cores.get("extend", 0.0) - cores.get("idle", 0.0)
    return {
        "cores": cores,
        "machine_cores": n_cpu,
        "seconds": seconds,
        "least_update_cores": extra,
        "least_update_share": extra / n_cpu,
    }


def format_floor(r: dict) -> str:
    lines = [
        f"plot floor: chromium (headless) keeping one 2 x 2 Plotly chart current, once a second, {r['seconds']:.0f} s per mode"
    ]
    lines += [f"  {mode:<13} {c:.3f} cores" for mode, c in r["cores"].items()]
    lines.append(
        f"least a live chart takes (extend - idle): {r['least_update_cores']:.3f} cores = "
        f"{r['least_update_share']:.1%} of this machine's {r['machine_cores']} cores"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The command line: measure each mode and print the floor."""
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.plot_floor",
        description="the CPU a headless chromium takes to keep one live Plotly chart "
        "current (idle, extendTraces, react, react + resize as gr.Plot does)",
    )
    p.add_argument("--seconds", type=float, default=20.0, help="measuring time per mode (default 20)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="babyllama-plot-floor-") as tmp:
        result = measure_plot_floor(Path(tmp), seconds=args.seconds, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=2) if args.json else format_floor(result), flush=True)
    return 0


if __name__ == "__main__":
    from benchmarks import run

    sys.exit(run(main))
