"""The browser half of `babyllama bench studio`: the studio (`launch.py`) as a subprocess on a free
loopback port, Debian's chromium through Playwright, the Train tab filled in and started, and an
in-page probe that stamps the moment each logged step first appears in the plot's data.

Playwright is imported inside functions only; nothing here imports gradio or studio (the studio
runs in its own process, exactly as users start it).
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from core.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
# STACK.md: the flags that keep Debian's chromium headless, offline and quiet.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_studio(workspace_root: Path, log_path: Path, timeout: float = 90.0):
    """`python launch.py` on a free 127.0.0.1 port; yields its URL once it answers, stops it after."""
    launcher = ROOT / "launch.py"
    if not launcher.is_file():
        raise UserError(f"bench studio: {launcher} is missing; run it from a source checkout")
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1",
           "GRADIO_TEMP_DIR": str(log_path.parent / "gradio-tmp")}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, str(launcher), "--host", "127.0.0.1", "--port", str(port),
                                 "--workspace", str(workspace_root)], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=ROOT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for_url(proc, url, log_path, timeout)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for_url(proc: subprocess.Popen, url: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bench studio: the studio exited ({proc.returncode}): "
                               f"{log_path.read_text(errors='replace')[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"bench studio: the studio did not answer at {url} within {timeout:.0f} s")


@contextmanager
def chromium_page(viewport=(1400, 1600)):
    """A headless page of Debian's chromium (never Playwright's downloaded browsers)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise UserError("bench studio drives a browser: install Playwright for Python "
                        "(pip install playwright; never `playwright install`)") from None
    executable = shutil.which("chromium")
    if executable is None:
        raise UserError("bench studio needs Debian's chromium: apt-get install -y chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        finally:
            browser.close()


def _until(page, predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        page.wait_for_timeout(200)
    raise RuntimeError(f"bench studio: timed out after {timeout:.0f} s waiting for {what}")


def _text(page, selector: str) -> str:
    node = page.query_selector(selector)
    return node.inner_text() if node else ""


def _choose(page, elem_id: str, value: str) -> None:
    """Pick `value` in Gradio dropdown `#elem_id`."""
    page.click(f"#{elem_id} input")
    page.locator(f'[role=option][aria-label="{value}"]').click(timeout=30_000)
    _until(page, lambda: page.input_value(f"#{elem_id} input") == value, 30, f"{value!r} in #{elem_id}")


def _fill_until_shown(page, selector: str, value: str, expected: list[str]) -> None:
    """Type `value` until "Show CLI command" lists every `expected` piece and the field still holds
    it: a field typed just after its accordion opens (or a preset change lands) can snap back."""
    for _ in range(5):
        page.fill(selector, value)
        page.click("button:has-text('Show CLI command')")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            shown = _text(page, "#train-command")
            if page.input_value(selector) != value:
                break  # snapped back: type it again
            if all(piece in shown for piece in expected):
                return
            page.wait_for_timeout(200)
    raise RuntimeError(f"bench studio: the Train form never showed {expected}: "
                       f"{_text(page, '#train-command')!r}")


REFRESH_LABELS = {1.0: "every second", 5.0: "every 5 s", 30.0: "every 30 s"}  # the Train tab's choices


def start_in_train_tab(page, url: str, preset: str, name: str, max_steps: int, expected: list[str],
                       refresh: float = 1.0) -> str:
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
    _fill_until_shown(page, "#train-training-max-steps input", str(max_steps),
                      [f"--model_name {name}", *expected])
    command = _text(page, "#train-command")
    page.evaluate(PROBE_JS, [name, PROBE_MS])
    page.click("#train-start")
    return command


def seen_steps(page) -> dict[int, float]:
    """Step -> wall-clock seconds at which the probe first saw it in the plot."""
    seen = page.evaluate("() => window.__benchSeen || {}")
    return {int(float(step)): ms / 1000.0 for step, ms in seen.items()}
