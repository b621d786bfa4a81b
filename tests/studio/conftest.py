"""Browser fixtures: the studio as a real subprocess on a free port, and Debian's chromium."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_studio(proc: subprocess.Popen) -> None:
    """Terminate a studio started by `start_studio`, killing it if it does not exit in 15 s."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_studio(workspace_root: Path, log_path: Path, extra_args: list[str] = ()) -> tuple[subprocess.Popen, str]:
    """`python launch.py` on a free loopback port (plus `extra_args`); returns the process and its URL
    once it answers."""
    port = _free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, str(ROOT / "launch.py"), "--port", str(port),
                             "--workspace", str(workspace_root), *extra_args], stdout=log, stderr=subprocess.STDOUT,
                            env=env, cwd=ROOT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"studio exited: {log_path.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("studio did not answer in 60 s")


def fill_until_used(page, selector: str, value: str, override: str) -> None:
    """Type into a Train field until "Show CLI command" shows `override` and the field still holds
    `value`: typed just after its accordion opens, a field can snap back to the preset value
    (seen here in about half the tries: 30 -> 60 within 0.1 s, no server event involved)."""
    for _ in range(5):
        page.fill(selector, value)
        page.click("button:has-text('Show CLI command')")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and override not in text_of(page, "#train-command"):
            if page.input_value(selector) != value:
                break  # snapped back: type it again
            page.wait_for_timeout(200)
        if override in text_of(page, "#train-command") and page.input_value(selector) == value:
            return
    raise AssertionError(f"{selector} never kept {value!r}: command shows {text_of(page, '#train-command')!r}")


def text_of(page, selector: str) -> str:
    node = page.query_selector(selector)
    return node.inner_text() if node else ""


@pytest.fixture
def studio(ready_workspace, tmp_path):
    """A running studio over `ready_workspace`; yields a restart-able handle."""
    class Studio:
        def __init__(self):
            self.proc, self.url = start_studio(ready_workspace.root, tmp_path / "studio.log")
            self.workspace = ready_workspace

        def restart(self):
            self.stop()
            self.proc, self.url = start_studio(ready_workspace.root, tmp_path / "studio-2.log")

        def stop(self):
            stop_studio(self.proc)

    handle = Studio()
    yield handle
    handle.stop()


@pytest.fixture
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    ARTIFACTS.mkdir(exist_ok=True)
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield b
        b.close()
