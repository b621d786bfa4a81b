"""The README's walkthrough runs as written on a fresh checkout (slow).

Its bash block is read from README.md and each command run in order, in a fresh folder, with
smaller sizes substituted (SMALLER: the same verbs and flags, minutes instead of hours) and
`babyllama` run as `python -m core.cli` of this checkout. `evaluation_data/` is the official
download in the README; here it is the hand-made copy in the official layout that the BabyLM tests
use (tests/core/evaluate/babylm_fixtures.py). `serve` runs until /health answers, then stops.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.core.evaluate.babylm_fixtures import write_evaluation_data

ROOT = Path(__file__).resolve().parents[1]
# (README text, what the test runs instead): sizes only.
SMALLER = (
    ("--words 1000000", "--words 30000"),
    ("--vocab-size 16000", "--vocab-size 600"),
    ("--config llama-10M", "--config tiny training.max_steps=20 training.eval_steps=10"),
)


def walkthrough() -> list[str]:
    """The commands of the README's walkthrough block, continuation lines joined, comments dropped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Walkthrough.*?```bash\n(.*?)```", text, re.S).group(1)
    lines = block.replace("\\\n", " ").splitlines()
    return [line.split("  #")[0].strip() for line in lines if line.strip() and not line.startswith("#")]


def test_walkthrough_names_what_a_new_user_needs():
    commands = walkthrough()
    made = {c.split("--model_name ")[1].split()[0] for c in commands if " --model_name " in c}
    report = next(c for c in commands if c.startswith("babyllama report "))
    compared = [w for w in shlex.split(report)[2:] if not w.startswith("-") and w != "report.html"]
    assert set(compared) <= made and len(compared) == 2  # it compares runs it made
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "--workspace" in text and "https://osf.io/ryjfm/" in text and "optional" in text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_until_healthy(argv: list[str], cwd: Path, env: dict) -> dict:
    port = _free_port()
    with open(cwd / "serve.log", "wb") as log:
        proc = subprocess.Popen(
            [*argv, "--port", str(port)], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, (cwd / "serve.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                    return json.loads(answer.read())
            except OSError:
                time.sleep(0.5)
        raise AssertionError("serve did not answer /health in 180 s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_readme_walkthrough_runs_as_written(tmp_path):
    write_evaluation_data(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "BABYLLAMA_WORKSPACE"}
    env["PYTHONPATH"] = str(ROOT)
    for command in walkthrough():
        for readme, smaller in SMALLER:
            command = command.replace(readme, smaller)
        if command.startswith("source "):
            continue  # the venv is this interpreter
        if command.startswith("export "):
            key, _, value = command[len("export ") :].partition("=")
            env[key] = value.replace("$PWD", str(tmp_path))
            continue
        argv = shlex.split(command)
        assert argv[0] == "babyllama", command
        argv = [sys.executable, "-m", "core.cli", *argv[1:]]
        if argv[3] == "serve":
            assert _serve_until_healthy(argv, tmp_path, env)
            continue
        done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert (tmp_path / "workspace" / "models" / "first").is_dir()  # the export put it in ./workspace
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "first" in html and "second" in html
    assert list((tmp_path / "workspace" / "models" / "first" / "eval").glob("*/results.json"))
