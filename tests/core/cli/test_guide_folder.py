"""The guide's own flow: its YAML names `./data/babylm_10M_clean` (a folder of `*.train` files) and
`./data/babylm_dev_clean` (`*.dev`). `config check` accepts them and says they will be prepared; a
run prepares each once into a corpus keyed by its content hash, and the next run reuses it."""

from __future__ import annotations

import shutil

import pytest

from core.cli import main
from tests.core.config.test_config import GUIDE_YAML

SMALL = [
    "model.hidden_size=64",
    "model.intermediate_size=128",
    "model.n_layer=2",
    "model.n_head=4",
    "data.seq_length=32",
    "data.eval_samples=8",
    "training.batch_size=4",
    "training.max_steps=3",
    "training.warmup_steps=1",
    "training.eval_steps=0",
    "training.save_steps=0",
    "training.logging_steps=1",
]


def _guide_layout(ws, cwd):
    """The guide's folders under `cwd`, filled with the session corpus's text, and its tokenizer
    file `./models/gpt-clean-16000.json` (with its workspace twin, as `tokenizer train --output` makes)."""
    train_dir, dev_dir = cwd / "data" / "babylm_10M_clean", cwd / "data" / "babylm_dev_clean"
    train_dir.mkdir(parents=True)
    dev_dir.mkdir(parents=True)
    syn = ws.corpus_dir("syn")
    for i, path in enumerate(sorted((syn / "train").glob("*.txt"))):
        (train_dir / f"part{i}.train").write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    for i, path in enumerate(sorted((syn / "dev").glob("*.txt"))):
        (dev_dir / f"part{i}.dev").write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (cwd / "models").mkdir()
    shutil.copy(ws.tokenizer_dir("tok") / "tokenizer.json", cwd / "models" / "gpt-clean-16000.json")
    shutil.copytree(ws.tokenizer_dir("tok"), ws.tokenizers_dir / "gpt-clean-16000")
    (cwd / "my-custom-model.yaml").write_text(GUIDE_YAML, encoding="utf-8")
    return train_dir


@pytest.mark.slow  # two real (tiny) training runs in worker processes
def test_guide_folders_pass_check_train_and_are_reused(ready_workspace, tmp_path, monkeypatch, capsys):
    cwd = tmp_path / "guide"
    cwd.mkdir()
    train_dir = _guide_layout(ready_workspace, cwd)
    monkeypatch.chdir(cwd)
    assert main(["config", "check", "my-custom-model.yaml"]) == 0
    out = capsys.readouterr().out
    n_files = len(list(train_dir.glob("*.train")))
    assert f"data.train_path: a folder of {n_files} text file" in out
    assert "will be prepared into the token cache at start" in out and "data.eval_path: a folder of" in out

    before = set(ready_workspace.corpora())
    assert main(["train", "--config", "my-custom-model.yaml", *SMALL, "--model_name", "guide-a"]) == 0
    made = set(ready_workspace.corpora()) - before
    assert len(made) == 2 and any(n.startswith("babylm_10M_clean-") for n in made)
    caches = {n: sorted(p.name for p in (ready_workspace.corpus_dir(n) / "cache").iterdir()) for n in made}
    assert all(caches.values())

    assert main(["train", "--config", "my-custom-model.yaml", *SMALL, "--model_name", "guide-b"]) == 0
    assert set(ready_workspace.corpora()) - before == made  # same text: no new corpus
    assert {n: sorted(p.name for p in (ready_workspace.corpus_dir(n) / "cache").iterdir()) for n in made} == caches
    log = (ready_workspace.models_dir / "guide-b" / "run.log").read_text(encoding="utf-8")
    assert "step 3/3" in log and "is corpus babylm_10M_clean-" in log
