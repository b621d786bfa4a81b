"""Fixtures for core.export tests: a workspace with corpus `syn`, tokenizer `tok` and finished run
`r1` (a tiny random Llama with metrics and an eval in the history), one torch thread.
"""

from __future__ import annotations

import pytest

from core.workspace import Workspace
from tests.conftest import copy_template
from tests.core.evaluate.conftest import one_thread, save_tiny_run  # noqa: F401  (one_thread: autouse)


@pytest.fixture(scope="module")
def export_ws(tmp_path_factory, data_template):
    from core.history import open_history
    from core.tokenizer import load_tokenizer

    ws = Workspace(tmp_path_factory.mktemp("export") / "ws").ensure()
    copy_template(data_template, ws)
    tok = load_tokenizer("tok", ws)
    with open_history(ws) as history:
        save_tiny_run(ws, "r1", tok, history=history)
        history.log_metrics("r1", 10, {"loss": 6.0, "eval_loss": 5.9})
        history.log_metrics("r1", 20, {"loss": 5.0, "eval_loss": 6.1})
        history.log_eval("r1", 100, "ppl", "perplexity", 321.5)
    return ws


@pytest.fixture
def make_run():
    return save_tiny_run
