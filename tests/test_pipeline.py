"""The guide's pipeline through the `babyllama` console script: synth -> tokenizer -> config check."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def _babyllama(*args, ws):
    exe = shutil.which("babyllama", path=str(Path(sys.executable).parent)) or "babyllama"
    env = {**os.environ, "BABYLLAMA_WORKSPACE": str(ws)}
    return subprocess.run([exe, *args], capture_output=True, text=True, env=env, timeout=120)


def test_guide_pipeline_on_cpu(tmp_path):
    ws = tmp_path / "ws"
    steps = [
        ("data", "synth", "--name", "syn", "--tokens", "1000000", "--complexity", "simple", "--seed", "42"),
        ("tokenizer", "train", "--data", "syn", "--vocab-size", "16000", "--name", "tok", "--quiet"),
        ("config", "check", "presets/tiny.yaml", "data.train_path=syn", "data.tokenizer_path=tok"),
    ]
    for step in steps:
        proc = _babyllama(*step, ws=ws)
        assert proc.returncode == 0, f"{' '.join(step)}:\n{proc.stdout}\n{proc.stderr}"
    assert "parameters:" in proc.stdout and "from the tokenizer" in proc.stdout
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(ws / "tokenizers" / "tok")
    text = "The little dog runs to the park."
    assert tok.decode(tok(text).input_ids, skip_special_tokens=True) == text
    assert tok(text).input_ids[0] == tok.bos_token_id  # texts start with <s> (docs/evaluation.md)
    assert (ws / "data" / "syn" / "manifest.json").is_file() and (ws / "studio.db").exists() is False


def test_bad_config_exits_2_with_every_problem(tmp_path):
    proc = _babyllama("config", "check", "tiny", "model.n_head=3", "--lr", "-1", ws=tmp_path / "ws")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "model.hidden_size" in proc.stderr and "training.lr" in proc.stderr
