"""Fixtures for core.evaluate tests: tiny random models saved as runs, one torch thread.

One thread: these models are tiny, and on a shared 2-core machine two OpenMP threads that wait
for each other made every forward pass 5-20x slower.
"""

from __future__ import annotations

import pytest
import torch
import yaml

from core import config
from core.model import build as models
from core.workspace import Workspace
from tests.conftest import copy_template

CTX = 64
TINY_MODEL = [
    "model.hidden_size=32",
    "model.n_head=2",
    "model.intermediate_size=64",
    "model.n_layer=2",
    f"model.max_position_embeddings={CTX}",
    "data.seq_length=32",
    "data.train_path=syn",
    "data.tokenizer_path=tok",
]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def save_tiny_run(
    ws: Workspace, name: str, tokenizer, *, family: str = "Llama", seed: int = 0, history=None, vocab: int | None = None
) -> object:
    """A randomly initialised tiny model saved as run `name` (config.yaml + weights + tokenizer)."""
    cfg = config.load(overrides=[f"model.type={family}", f"model.name={name}", *TINY_MODEL])
    torch.manual_seed(seed)
    model = models.build_model(cfg.model, vocab or len(tokenizer))
    folder = ws.run_dir(name)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
    if history is not None:
        history.create_run(name, "train", cfg.to_dict(), folder)
        history.set_status(name, "finished", step=100)
    return cfg


@pytest.fixture(scope="module")
def eval_ws(tmp_path_factory, data_template):
    """A workspace with corpus `syn`, tokenizer `tok` and finished run `r1` (a tiny random Llama)."""
    from core.history import open_history
    from core.tokenizer import load_tokenizer

    ws = Workspace(tmp_path_factory.mktemp("eval") / "ws").ensure()
    copy_template(data_template, ws)
    tok = load_tokenizer("tok", ws)
    with open_history(ws) as history:
        save_tiny_run(ws, "r1", tok, history=history)
        history.log_metrics("r1", 10, {"loss": 6.0})
        history.log_metrics("r1", 20, {"loss": 5.0, "eval_loss": 5.2})
    return ws


@pytest.fixture
def make_run():
    """save_tiny_run, for tests that need a run of their own."""
    return save_tiny_run


@pytest.fixture(scope="module")
def tiny(eval_ws):
    """(model, tokenizer) of run r1 on CPU."""
    from core.generate import load_model

    return load_model("r1", eval_ws, device="cpu")
