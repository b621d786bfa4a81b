"""`babyllama recipe babyllama-2023 --scale tiny` end to end: a tokenizer, two tiny teachers, a tiny
student distilled from both, the BabyLM suite on two fixture tasks for all three, and the table,
whose numbers must be those of each eval's results.json; a second run skips every step."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.core.evaluate import babylm_fixtures as fx


def _cli(workspace, *args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "BABYLLAMA_WORKSPACE": str(workspace.root)}
    return subprocess.run([sys.executable, "-m", "core.cli", *args], capture_output=True, text=True, env=env, timeout=1100)


@pytest.mark.slow
def test_tiny_recipe_end_to_end(workspace, tmp_path):
    data = tmp_path / "babylm_10M"
    data.mkdir()
    for i, name in enumerate(("childes", "bnc_spoken", "gutenberg")):
        (data / f"{name}.train").write_text((fx.TEXT + "\n") * (4 + i), encoding="utf-8")
    babylm = fx.write_evaluation_data(tmp_path) / "fast_eval"  # two tasks: blimp_fast, entity_tracking_fast
    args = ("recipe", "babyllama-2023", "--data", str(data), "--babylm-data", str(babylm), "--scale", "tiny")
    done = _cli(workspace, *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = (workspace.root / "recipes" / "babyllama-2023-tiny" / "comparison.md").read_text(encoding="utf-8")
    assert "NOT the published recipe" in table
    header = next(line for line in table.splitlines() if line.startswith("| task"))
    runs = ["babyllama-2023-tiny-gpt2-705M", "babyllama-2023-tiny-llama-360M", "babyllama-2023-tiny-llama-58M"]
    assert header == "| task | " + " | ".join(runs) + " |"
    rows = {
        line.split(" | ")[0][2:]: line.strip("| ").split(" | ")[1:]
        for line in table.splitlines()
        if line.startswith("| ") and not line.startswith(("| task", "|---"))
    }
    assert len(rows) == 2
    for col, model in enumerate(("gpt2-705M", "llama-360M", "llama-58M")):
        results = workspace.root / "recipes" / "babyllama-2023-tiny" / "eval" / model / "results.json"
        board = json.loads(results.read_text(encoding="utf-8"))["suites"]["babylm"]["scoreboard"]
        assert set(board) == set(rows)
        for task, value in board.items():
            assert rows[task][col] == f"{value:.2f}"
    status = _cli(workspace, *args, "--status")
    assert status.returncode == 0 and status.stdout.count("done") == 8 and "skipped" in status.stdout
    again = _cli(workspace, *args)  # nothing left to do: every job step is skipped, the table rewritten
    assert again.returncode == 0 and "starting" not in again.stdout
    assert (workspace.root / "recipes" / "babyllama-2023-tiny" / "comparison.md").read_text() == table
