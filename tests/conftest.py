"""Shared fixtures: a fresh workspace per test, the shared real-text data, offline environment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

# Offline and tidy: no hub calls, no telemetry, caches inside the project (see STACK.md).
for _key, _value in {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
}.items():
    os.environ.setdefault(_key, _value)
os.environ.setdefault("HF_HOME", str(ROOT / ".cache" / "hf"))

# Per-test limits by marker (pytest-timeout; the default of 300 s is in pyproject.toml). The
# slowest slow test (multi-process training, full pipelines) takes a few minutes on 2 shared
# cores, the slowest browser test about two: each limit leaves several times that.
SLOW_TIMEOUT_S = 1200
BROWSER_TIMEOUT_S = 900
CLUSTER_TIMEOUT_S = 900  # a SLURM job (start-up, training, requeue) takes about two minutes here


def pytest_collection_modifyitems(config, items):
    """A `slow`, `browser` or `cluster` test without its own `@pytest.mark.timeout` gets the longer limit."""
    for item in items:
        if item.get_closest_marker("timeout") is not None:
            continue
        limits = [
            limit
            for marker, limit in (("slow", SLOW_TIMEOUT_S), ("browser", BROWSER_TIMEOUT_S), ("cluster", CLUSTER_TIMEOUT_S))
            if item.get_closest_marker(marker) is not None
        ]
        if limits:
            item.add_marker(pytest.mark.timeout(max(limits)))


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A fresh, empty workspace; also exported as $BABYLLAMA_WORKSPACE for CLI calls. Jobs a test
    leaves running (a failed assertion before its `runs stop`) are killed at teardown, so one
    failure does not leave a worker training for hours beside the rest of the suite."""
    from core.workspace import Workspace

    ws = Workspace(tmp_path / "ws").ensure()
    monkeypatch.setenv("BABYLLAMA_WORKSPACE", str(ws.root))
    yield ws
    _kill_live_jobs(ws)


def _kill_live_jobs(ws) -> None:
    """Kill the process group of every queued/running run whose recorded worker still runs. Read
    with plain sqlite3: a test may have left its own broken schema or fake rows behind."""
    import signal
    import sqlite3

    from core.jobs import same_process

    if not ws.db_path.is_file():
        return
    conn = sqlite3.connect(ws.db_path)
    try:
        rows = conn.execute(
            "SELECT pid, pid_started FROM runs WHERE status IN ('queued', 'running') AND pid IS NOT NULL"
        ).fetchall()
    except sqlite3.Error:
        rows = []  # no runs table (a test's own broken database): no worker of ours
    finally:
        conn.close()
    for pid, started in rows:
        # pid <= 1 or no start time: a fake row (killpg(1) is kill(-1): every process here).
        if pid <= 1 or started is None:
            continue
        if pid != os.getpid() and same_process(pid, started):  # tests use their own pid as a fake one
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # it ended meanwhile


@pytest.fixture
def history(workspace):
    """The History of the fresh `workspace`, closed after the test (modules that need another
    workspace define their own)."""
    from core.history import History

    with History(workspace.db_path) as h:
        yield h


@pytest.fixture
def shared_data() -> Path:
    """`../shared/data` (real public text); tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present beside the checkout")
    return SHARED_DATA


@pytest.fixture(scope="session")
def data_template(tmp_path_factory):
    """A synthetic corpus `syn` and a tokenizer `tok`, made once per test session."""
    from core.data.synthetic import create_synthetic_corpus
    from core.tokenizer import train_tokenizer
    from core.workspace import Workspace

    ws = Workspace(tmp_path_factory.mktemp("template") / "ws").ensure()
    create_synthetic_corpus(ws, "syn", n_words=60_000, complexity="medium", seed=1)
    train_tokenizer(ws.corpus_dir("syn"), ws.tokenizer_dir("tok"), vocab_size=600, progress=False)
    return ws


def copy_template(template, ws):
    """Copy the session's corpus `syn` and tokenizer `tok` (the `data_template` fixture) into `ws`."""
    import shutil

    shutil.copytree(template.data_dir, ws.data_dir, dirs_exist_ok=True)
    shutil.copytree(template.tokenizers_dir, ws.tokenizers_dir, dirs_exist_ok=True)
    return ws


@pytest.fixture
def ready_workspace(workspace, data_template):
    """A fresh workspace holding copies of the session's corpus `syn` and tokenizer `tok`."""
    return copy_template(data_template, workspace)


TINY = ["data.train_path=syn", "data.tokenizer_path=tok"]


@pytest.fixture
def cxx():
    """Skips the test where torch.compile cannot build CPU kernels (no C++ compiler)."""
    from core.train.loop import cpu_can_compile

    if not cpu_can_compile():
        pytest.skip("no C++ compiler for torch.compile's CPU kernels")
