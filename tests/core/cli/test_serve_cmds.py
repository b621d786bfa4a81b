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

from core import config, models
from core.cli import main

ROOT = Path(__file__).resolve().parents[3]


def _save_run(ws, name: str) -> None:
    from core.tokenizer import load_tokenizer

    tok = load_tokenizer("tok", ws)
    cfg = config.load(overrides=["model.hidden_size=32", "model.n_head=2", "model.intermediate_size=64",
                                 "model.n_layer=2", "model.max_position_embeddings=64", "data.seq_length=32"])
    torch.manual_seed(0)
    model = models.build_model(cfg.model, len(tok))
    model.save_pretrained(ws.run_dir(name))
    tok.save_pretrained(ws.run_dir(name))


def test_serve_answers_then_stops_cleanly_on_ctrl_c(ready_workspace):
    _save_run(ready_workspace, "r1")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "core.cli", "serve", "r1", "--port", "0",
                             "--workspace", str(ready_workspace.root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
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
