"""`pip install .` gives a working `babyllama studio`: the package ships core/, studio/ and the
presets, and runs from a folder that is not the checkout.

The cheap install (documented choice): a fresh venv without pip's dependencies (`--no-deps`);
a `.pth` file in it lists /work/main/.venv's site-packages so torch, gradio, ... import from there.
A plain path entry, unlike `--system-site-packages`, reaches the dependencies of the venv this
test runs in (not the base interpreter's), and skips that venv's own `.pth` files, so its editable
install of the checkout cannot shadow the copy under test.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _source_copy(dest: Path) -> Path:
    """The checkout's tracked and new files (what a fresh clone plus edits holds), without .git."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.splitlines()
    for rel in listed:
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin folder, environment) of a fresh venv where the repo is pip-installed."""
    tmp = tmp_path_factory.mktemp("install")
    src = _source_copy(tmp / "src")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True, capture_output=True, text=True
    ).stdout.strip()
    Path(purelib, "deps-from-test-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(py),
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-input",
            "-q",
            str(src),
        ],
        check=True,
        cwd=tmp,
        timeout=600,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BABYLLAMA_WORKSPACE")}
    env.update(GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
    return venv / "bin", env, tmp


@pytest.mark.slow
def test_installed_package_imports_from_site_packages_with_its_presets(installed):
    bin_dir, env, tmp = installed
    code = "import core, studio.launcher, core.config.presets as p; print(core.__file__); print(sorted(p.available(None)))"
    out = subprocess.run(
        [str(bin_dir / "python"), "-c", code], cwd=tmp, env=env, check=True, capture_output=True, text=True
    ).stdout.splitlines()
    # (pytest's basetemp may lie inside the checkout: compare with the checkout's own core/, not its root)
    assert "site-packages" in out[0] and not Path(out[0]).is_relative_to(ROOT / "core"), out[0]
    assert "tiny" in out[1] and "llama-10M" in out[1], out[1]


@pytest.mark.slow
def test_babyllama_studio_help_and_serves_the_page(installed):
    bin_dir, env, tmp = installed
    helped = subprocess.run(
        [str(bin_dir / "babyllama"), "studio", "--help"], cwd=tmp, env=env, capture_output=True, text=True, timeout=120
    )
    assert helped.returncode == 0, helped.stderr
    assert "--port" in helped.stdout and "--auth-file" in helped.stdout
    port = _free_port()
    log = tmp / "studio.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(bin_dir / "babyllama"), "studio", "--port", str(port), "--workspace", str(tmp / "ws")],
            cwd=tmp,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        status, deadline = None, time.monotonic() + 120
        while status is None and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                status = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).status
            except OSError:
                time.sleep(0.5)
        assert status == 200, log.read_text()[-2000:]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
