"""The one studio-plus-chromium driver: `launch.py` as a subprocess on a free loopback port, Debian's
chromium through Playwright, and the two page helpers both need. `bench studio`, `benchmarks/` and
the browser tests (tests/studio/conftest.py) all start and drive the studio through this module.

Playwright is imported inside functions only; must not import gradio or studio (the studio runs in
its own process, exactly as users start it).
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
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STUDIO_TIMEOUT_S = 90.0  # a cold studio start on 2 busy cores


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_studio(
    workspace_root: Path, log_path: Path, extra_args=(), timeout: float = STUDIO_TIMEOUT_S
) -> tuple[subprocess.Popen, str]:
    """`python launch.py` on a free 127.0.0.1 port (plus `extra_args`), output to `log_path`;
    returns the process and its URL once it answers. A studio that exits or stays silent raises."""
    launcher = ROOT / "launch.py"
    if not launcher.is_file():
        raise UserError(f"{launcher} is missing: the studio driver runs from a source checkout")
    port = free_port()
    env = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
        "GRADIO_TEMP_DIR": str(log_path.parent / "gradio-tmp"),
    }
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [
                sys.executable,
                str(launcher),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workspace",
                str(workspace_root),
                *extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_for_url(proc, url, log_path, timeout)
    except BaseException:
        stop_studio(proc)
        raise
    return proc, url


def stop_studio(proc: subprocess.Popen) -> None:
    """Terminate a studio started by `start_studio`, killing it if it does not exit in 15 s."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextmanager
def running_studio(workspace_root: Path, log_path: Path, extra_args=(), timeout: float = STUDIO_TIMEOUT_S):
    """`start_studio` as a context: yields the URL, stops the studio after."""
    proc, url = start_studio(workspace_root, log_path, extra_args, timeout)
    try:
        yield url
    finally:
        stop_studio(proc)


def _wait_for_url(proc: subprocess.Popen, url: str, log_path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the studio exited ({proc.returncode}): {log_path.read_text(errors='replace')[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the studio did not answer at {url} within {timeout:.0f} s")


def chromium_path() -> str | None:
    """Debian's chromium, or None (never Playwright's downloaded browsers)."""
    return shutil.which("chromium")


@contextmanager
def chromium():
    """A headless Debian chromium under Playwright; yields the Browser, closes it after."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise UserError(
            "driving a browser needs Playwright for Python (pip install playwright; never `playwright install`)"
        ) from None
    executable = chromium_path()
    if executable is None:
        raise UserError("driving a browser needs Debian's chromium: apt-get install -y chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium_page(viewport=(1400, 1600)):
    """One page of `chromium()` of the given (width, height)."""
    with chromium() as browser:
        yield browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})


def text_of(page, selector: str) -> str:
    """The inner text of the first node matching `selector`, "" when there is none."""
    node = page.query_selector(selector)
    return node.inner_text() if node else ""


def fill_until_shown(page, selector: str, value: str, expected: list[str]) -> None:
    """Type `value` into a Train field until "Show CLI command" lists every `expected` piece and
    the field still holds it: typed just after its accordion opens (or a preset change lands), a
    field can snap back to the preset value (30 -> 60 within 0.1 s, no server event involved)."""
    for _ in range(5):
        page.fill(selector, value)
        page.click("button:has-text('Show CLI command')")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if page.input_value(selector) != value:
                break  # snapped back: type it again
            if all(piece in text_of(page, "#train-command") for piece in expected):
                return
            page.wait_for_timeout(200)
    raise RuntimeError(
        f"{selector} never kept {value!r} with {expected} shown: the command shows {text_of(page, '#train-command')!r}"
    )
