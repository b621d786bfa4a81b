"""The browser half of `babyllama bench studio`: the Train tab filled in and started, and an in-page
probe that stamps the moment each logged step first appears in the plot's data. Starting the studio
and chromium is `core.bench.browser`'s (shared with the browser tests).

Must not import gradio, studio or Playwright (the driver imports Playwright when a page opens).
"""

from __future__ import annotations

import time

from core.bench.browser import fill_until_shown, text_of

PROBE_MS = 50  # how often the in-page probe reads the plot's data

# Runs inside the page. Every PROBE_MS it reads the Plotly figure's `loss` trace and stamps the
# first moment each step (its x) is there, in wall-clock ms (Date.now(), the clock the worker's
# row times use). It arms only once run `name` is selected AND its plot has been empty: until the
# new run's first tick lands, the plot still shows the previously selected run's points.
PROBE_JS = """([name, every]) => {
    const seen = {};
    let armed = false;
    window.__benchSeen = seen;
    window.__benchProbe = setInterval(() => {
        const run = document.querySelector('#train-run input');
        if (!run || run.value !== name) return;
        const plot = document.querySelector('#train-plot .js-plotly-plot');
        const loss = plot && plot.data ? plot.data.find(t => t.name === 'loss') : null;
        if (!loss || !loss.x || loss.x.length === 0) { armed = true; return; }
        if (!armed) return;
        const now = Date.now();
        for (const x of loss.x) { if (!(String(x) in seen)) seen[String(x)] = now; }
    }, every);
}"""


def _until(page, predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        page.wait_for_timeout(200)
    raise RuntimeError(f"bench studio: timed out after {timeout:.0f} s waiting for {what}")


def _choose(page, elem_id: str, value: str) -> None:
    """Pick `value` in Gradio dropdown `#elem_id`."""
    page.click(f"#{elem_id} input")
    page.locator(f'[role=option][aria-label="{value}"]').click(timeout=30_000)
    _until(page, lambda: page.input_value(f"#{elem_id} input") == value, 30, f"{value!r} in #{elem_id}")


REFRESH_LABELS = {1.0: "every second", 5.0: "every 5 s", 30.0: "every 30 s"}  # the Train tab's choices


def start_in_train_tab(page, url: str, preset: str, name: str, max_steps: int, expected: list[str], refresh: float = 1.0) -> str:
    """Open the Train tab, pick the plot refresh, fill preset, run name and max_steps, check the
    command shows every `expected` override, arm the plot probe for run `name`, click Start;
    returns the command shown."""
    page.goto(url)
    page.click("#tab-train-button")
    page.wait_for_selector("#train-start")
    if refresh != 1.0:
        _choose(page, "train-refresh", REFRESH_LABELS[refresh])
    if page.input_value("#train-preset input") != preset:
        _choose(page, "train-preset", preset)
    page.fill("#train-name textarea, #train-name input", name)
    page.click("text=Training settings")
    fill_until_shown(page, "#train-training-max-steps input", str(max_steps), [f"--model_name {name}", *expected])
    command = text_of(page, "#train-command")
    page.evaluate(PROBE_JS, [name, PROBE_MS])
    page.click("#train-start")
    return command


def seen_steps(page) -> dict[int, float]:
    """Step -> wall-clock seconds at which the probe first saw it in the plot."""
    seen = page.evaluate("() => window.__benchSeen || {}")
    return {int(float(step)): ms / 1000.0 for step, ms in seen.items()}
