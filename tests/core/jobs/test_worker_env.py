"""A worker's environment keeps tqdm bars out of run.log: tqdm, datasets (even when code turns its
bars back on) and transformers' save_pretrained all stay silent."""

from __future__ import annotations

import subprocess
import sys

from core.jobs import QUIET_BARS_ENV, worker_env

CODE = """
from tqdm import tqdm
list(tqdm(range(3), desc="plain-bar"))
import datasets
datasets.enable_progress_bars()
from datasets.utils.tqdm import tqdm as ds_tqdm
list(ds_tqdm(range(3), desc="datasets-bar"))
import transformers
from transformers.utils import logging
print("transformers bars:", logging.is_progress_bar_enabled())
"""


def test_worker_env_turns_every_progress_bar_off():
    env = worker_env()
    assert all(env[key] == value for key, value in QUIET_BARS_ENV.items())
    proc = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "plain-bar" not in proc.stderr and "datasets-bar" not in proc.stderr and "%|" not in proc.stderr
    assert "transformers bars: False" in proc.stdout


def test_without_it_the_bars_would_show():  # the check above can fail: bars do print by default
    env = {k: v for k, v in worker_env().items() if k not in QUIET_BARS_ENV}
    proc = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=120)
    assert "plain-bar" in proc.stderr and "transformers bars: True" in proc.stdout
