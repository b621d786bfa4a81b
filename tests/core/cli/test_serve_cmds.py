"""`babyllama serve` as users start it: a subprocess on a free port, called over HTTP, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import torch

from core import config
from core.cli import main
from core.model import build as models

ROOT = Path(__file__).resolve().parents[3]


def _save_run(ws, name: str) -> None:
    from core.tokenizer import load_tokenizer

    tok = load_tokenizer("tok", ws)
    cfg = config.load(
        overrides=[
            "model.hidden_size=32",
            "model.n_head=2",
            "model.intermediate_size=64",
            "model.n_layer=2",
            "model.max_position_embeddings=64",
            "data.seq_length=32",
        ]
    )
    torch.manual_seed(0)
    model = models.build_model(cfg.model, len(tok))
    model.save_pretrained(ws.run_dir(name))
    tok.save_pretrained(ws.run_dir(name))


def test_serve_answers_then_stops_cleanly_on_ctrl_c(ready_workspace):
    _save_run(ready_workspace, "r1")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "serve", "r1", "--port", "0", "--workspace", str(ready_workspace.root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    try:
        line = proc.stdout.readline()
        found = re.search(r"serving r1 on (http://127\.0\.0\.1:\d+)", line)
        assert found, line + proc.stderr.read() if proc.poll() is not None else line
        base = found.group(1)
        with urllib.request.urlopen(base + "/health", timeout=60) as resp:
            assert json.load(resp)["model"] == "r1"
        body = json.dumps({"prompt": "the cat", "max_tokens": 5, "temperature": 0}).encode()
        req = urllib.request.Request(base + "/v1/completions", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            answer = json.load(resp)
        assert answer["object"] == "text_completion" and answer["usage"]["completion_tokens"] <= 5
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "stopping" in out and "Traceback" not in err


def test_a_remote_host_without_the_flag_is_refused_before_loading(workspace, capsys):
    assert main(["serve", "no-such-run", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "--allow-remote" in err and "no-such-run" not in err  # refused before looking for the model


def test_a_missing_run_is_a_user_error(workspace, capsys):
    assert main(["serve", "no-such-run", "--port", "0"]) == 2
    assert "no run or folder" in capsys.readouterr().err


def _start_serve(ws, *args: str) -> tuple[subprocess.Popen, str]:
    """`babyllama serve r1` as a process; (process, base URL) once it listens."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "core.cli", "serve", "r1", "--port", "0", "--workspace", str(ws.root), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    line = proc.stdout.readline()
    found = re.search(r"serving r1 on (http://127\.0\.0\.1:\d+)", line)
    if not found:
        proc.kill()
        raise AssertionError(line + proc.communicate(timeout=30)[1])
    return proc, found.group(1)


def test_serve_exits_within_3_s_of_sigterm_while_generating(ready_workspace):
    """SIGTERM with a long generation running, a request waiting and a stream open: the process is gone
    within 3 s (it took up to 22 s), with status 0 and no traceback."""
    import http.client
    import time
    from urllib.parse import urlsplit

    _save_run(ready_workspace, "r1")
    proc, base = _start_serve(ready_workspace, "--max-prompts", "5000", "--max-request-tokens", "10000000")
    url = urlsplit(base)
    conns = []
    try:
        for body in (
            {"prompt": ["the cat"] * 5000, "max_tokens": 60},  # minutes of work
            {"prompt": "the dog", "max_tokens": 60, "stream": True},  # waits its turn
            {"prompt": ["a"] * 100, "max_tokens": 60},
        ):
            conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
            conn.request("POST", "/v1/completions", body=json.dumps(body))
            conns.append(conn)
        deadline = time.monotonic() + 30
        while True:
            with urllib.request.urlopen(base + "/health", timeout=10) as resp:
                health = json.load(resp)
            if health["busy"] and health["waiting"] == 2:
                break
            assert time.monotonic() < deadline, health
            time.sleep(0.1)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        seconds = time.monotonic() - start
    finally:
        for conn in conns:
            conn.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"exited {seconds:.2f} s after SIGTERM")
    assert seconds < 3.0, f"exited {seconds:.1f} s after SIGTERM"
    assert proc.returncode == 0 and "Traceback" not in err, err


def test_damaged_weights_are_a_clear_error(ready_workspace):
    """A truncated model.safetensors, a missing one, a damaged tokenizer.json: exit 2, a message naming the
    folder and the fix, no traceback."""
    _save_run(ready_workspace, "r1")
    folder = ready_workspace.run_dir("r1")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def serve() -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "core.cli", "serve", "r1", "--port", "0", "--workspace", str(ready_workspace.root)],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=120,
        )

    for cut in (len(data) // 2, 3):
        weights.write_bytes(data[:cut])
        done = serve()
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert "weights cannot be read" in done.stderr and str(folder) in done.stderr
    weights.unlink()
    done = serve()
    assert done.returncode == 2 and "Traceback" not in done.stderr and "model.safetensors" in done.stderr, done.stderr
    weights.write_bytes(data)
    tokenizer = folder / "tokenizer.json"
    tokenizer.write_text(tokenizer.read_text()[:100])
    done = serve()
    assert done.returncode == 2 and "Traceback" not in done.stderr and "no usable tokenizer" in done.stderr, done.stderr
