"""The named API: every public endpoint has a chosen name and is listed in docs/api.md, and the
script on that page drives a tiny run end to end against a real `launch.py` process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from core.bench.browser import ROOT, start_studio, stop_studio
from core.history import History
from studio.app import build_app

DOC = ROOT / "docs" / "api.md"


def documented_endpoints() -> set[str]:
    return set(re.findall(r"^\| `(/\w+)` \|", DOC.read_text(encoding="utf-8"), flags=re.M))


def doc_script() -> str:
    text = DOC.read_text(encoding="utf-8")
    return re.search(r"<!-- the test runs this block as it is -->\n```python\n(.*?)```", text, flags=re.S).group(1)


def test_every_public_endpoint_is_named_and_documented(workspace):
    """Before the names, the studio exposed /partial, /partial_1, ... /lambda_5: this fails on them."""
    info = build_app(workspace).get_api_info()
    public = set(info["named_endpoints"])
    assert not info.get("unnamed_endpoints")
    assert not [n for n in public if re.fullmatch(r"/(partial|lambda|fn)(_\d+)?", n)]
    assert public == documented_endpoints()
    for action in (
        "/list_runs",
        "/run_metrics",
        "/start_run",
        "/stop_run",
        "/resume_run",
        "/make_corpus",
        "/train_tokenizer",
        "/evaluate",
        "/compare_curves",
        "/chat",
        "/export_hf",
        "/start_sweep",
    ):
        assert action in public
    # Form fields are keywords named after their config key, not param_4, param_5, ...
    start = [p["parameter_name"] for p in info["named_endpoints"]["/start_run"]["parameters"]]
    assert start[:4] == ["preset", "corpus", "tokenizer", "name"] and "max_steps" in start
    assert not [p for p in start if p.startswith("param_")]


@pytest.mark.slow
def test_docs_script_drives_a_tiny_run(workspace, tmp_path):
    """corpus -> tokenizer -> start -> poll metrics until finished -> generate, through gradio_client."""
    proc, url = start_studio(workspace.root, tmp_path / "studio.log")
    try:
        env = {**os.environ, "STUDIO_URL": url, "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
        out = subprocess.run(
            [sys.executable, "-c", doc_script()], env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path
        )
    finally:
        stop_studio(proc)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    lines = out.stdout.splitlines()
    assert "corpus: finished" in lines and "tokenizer: finished" in lines and "run: finished" in lines
    assert any(line.startswith("step  20  loss") for line in lines), out.stdout
    sample = next(line for line in lines if line.startswith("sample: "))
    assert len(sample) > len("sample: ")
    with History(workspace.db_path) as h:
        run = h.get_run("api-run")
        assert run.status == "finished" and run.step == 20
        assert "training.max_steps=20" in run.command
    assert (Path(run.run_dir) / "config.yaml").is_file()


def test_api_only_endpoints_read_runs_and_metrics(workspace):
    from studio import api
    from studio.context import StudioContext

    ctx = StudioContext(workspace)
    with ctx.history() as h:
        h.create_run("r", "train", {}, None, total_steps=3)
        h.create_run("job", "prepare", {}, None)
        for step in (1, 2, 3):
            h.log_metrics("r", step, {"loss": 4.0 - step}, tokens=10 * step, words=7 * step)
    assert [r["name"] for r in api.list_runs(ctx)] == ["job", "r"]
    assert [r["name"] for r in api.list_runs(ctx, "train")] == ["r"]
    assert api.run_info(ctx, "r")["total_steps"] == 3 and api.run_info(ctx, "nobody") == {}
    rows = api.run_metrics(ctx, "r", 1)
    assert [(r["step"], r["name"], r["value"], r["words"]) for r in rows] == [(2, "loss", 2.0, 14), (3, "loss", 1.0, 21)]
    assert api.run_metrics(ctx, "nobody") == []
