"""`--format babylm`: the final model plus one transformers folder per chck_* checkpoint of a tiny
run, and a README with the upload commands (a branch per checkpoint, main = final) and the
evaluation pipeline's commands. Nothing is uploaded."""

from __future__ import annotations

import json

import pytest
import torch

from core import config
from core.config.presets import find
from core.errors import UserError
from core.export.runner import ExportOptions, run_export
from core.train.data import load_train_data
from core.train.loop import train
from core.train.machine import make_accelerator


def _train_marked(ws, name: str, *overrides: str) -> None:
    cfg = config.load(
        find("tiny"),
        [
            "data.train_path=syn",
            "data.tokenizer_path=tok",
            "training.max_steps=8",
            "training.eval_steps=0",
            "training.save_steps=0",
            "training.save_total_limit=1",
            "training.checkpoint_words=1k,2k",
            *overrides,
        ],
    )
    data, tokenizer = load_train_data(cfg, ws)
    assert train(cfg, data, tokenizer, ws.run_dir(name), [], accelerator=make_accelerator(cfg)[0]) == "finished"


@pytest.fixture(scope="module")
def marked_run(export_ws):
    _train_marked(export_ws, "mk")
    return export_ws


def test_babylm_export_has_main_and_every_checkpoint_loadable(marked_run):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    result, folder = run_export(ExportOptions("mk", "babylm"), marked_run, log=lambda m: None)
    assert folder == marked_run.root / "exports" / "mk-babylm"
    assert {"main", "chck_1k", "chck_2k", "README.md", "export.json"} <= {p.name for p in folder.iterdir()}
    ids = torch.tensor([[1, 5, 9, 12]])
    for name in ("main", "chck_1k", "chck_2k"):
        model = AutoModelForCausalLM.from_pretrained(folder / name).eval()
        assert AutoTokenizer.from_pretrained(folder / name).eos_token == "</s>"
        assert not {"training_state.pt", "checkpoint.json"} & {p.name for p in (folder / name).iterdir()}
        source = AutoModelForCausalLM.from_pretrained(marked_run.run_dir("mk") / ("." if name == "main" else name)).eval()
        with torch.inference_mode():
            assert torch.equal(model(ids).logits, source(ids).logits)
    marks = json.loads((folder / "export.json").read_text())["babylm"]["checkpoints"]
    assert [m["name"] for m in marks] == ["chck_1k", "chck_2k"] and marks[0]["words"] >= 1000

    readme = (folder / "README.md").read_text()
    assert 'hf upload "$REPO" main . --commit-message "final model"' in readme
    assert 'hf upload "$REPO" chck_1k . --revision chck_1k' in readme
    assert 'hf upload "$REPO" chck_2k . --revision chck_2k' in readme
    assert f"cd {folder}" in readme
    assert 'bash eval_zero_shot_fast_all_revisions.sh "$REPO" causal strict-small evaluation_data/fast_eval' in readme
    assert "This run lacks 19 of them (chck_1M" in readme


def test_babylm_export_refuses_a_run_without_checkpoints(export_ws):
    with pytest.raises(UserError, match="no chck_\\* checkpoints.*checkpoint_words=babylm"):
        run_export(ExportOptions("r1", "babylm"), export_ws, log=lambda m: None)
    assert not (export_ws.root / "exports" / "r1-babylm").exists()


def test_one_mark_exports_under_its_name(marked_run):
    from core.export.runner import default_output

    folder = marked_run.run_dir("mk") / "chck_1k"
    assert default_output(folder, marked_run, "hf") == marked_run.root / "exports" / "mk-chck_1k-hf"


SENTENCES = ["The cat sat on the mat.", "  Gretel, little  one!", "ünïcödé wörds and 'quotes'"]


def _ours(folder, sentences):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    enc = tok(sentences, return_offsets_mapping=True)
    with torch.inference_mode():
        logits = [model(torch.tensor([ids])).logits[0] for ids in enc["input_ids"]]
    return enc["input_ids"], [[list(o) for o in s] for s in enc["offset_mapping"]], logits


def test_every_exported_folder_names_a_tokenizer_class_transformers_4_knows(marked_run, tmp_path):
    """tokenizer_config.json names PreTrainedTokenizerFast (transformers 5 saves TokenizersBackend,
    which 4.x refuses) in the tokenizer folder, the run's checkpoints and every exported folder."""
    _, folder = run_export(ExportOptions("mk", "babylm", output=str(tmp_path / "sub")), marked_run, log=lambda m: None)
    run_dir = marked_run.run_dir("mk")
    folders = [
        marked_run.tokenizer_dir("tok"),
        run_dir,
        *run_dir.glob("chck_*"),
        *(folder / n for n in ("main", "chck_1k", "chck_2k")),
    ]
    for f in folders:
        cfg = json.loads((f / "tokenizer_config.json").read_text())
        assert cfg["tokenizer_class"] == "PreTrainedTokenizerFast", f
        assert not {"is_local", "local_files_only"} & set(cfg), f


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["Llama", "GPT2", "GPTJ"])
def test_exported_folders_load_in_the_pipelines_pinned_environment(marked_run, tmp_path, arch):
    """transformers 4.51.3 + tokenizers 0.21.1 (the pipeline's requirements.txt) load main/ and every
    chck_*/ with the same ids (BOS included), offsets and logits as ours, the logits through
    `model(**tokenizer(text))` as the pipeline's reading calls it: the tokenizer returns ids and mask
    only (a GPT-2 would add the embedding of token 0 for every token_type_id)."""
    from tests.pipeline_env import load_in_pipeline_env

    run = "mk"
    if arch != "Llama":
        run = f"mk-{arch.lower()}"
        _train_marked(marked_run, run, f"model.type={arch}")
    _, folder = run_export(ExportOptions(run, "babylm", output=str(tmp_path / "sub")), marked_run, log=lambda m: None)
    for name in ("main", "chck_1k", "chck_2k"):
        theirs = load_in_pipeline_env(folder / name, SENTENCES)
        assert (theirs["transformers"], theirs["tokenizers"]) == ("4.51.3", "0.21.1")
        assert theirs["keys"] == ["input_ids", "attention_mask"], name
        ids, offsets, logits = _ours(folder / name, SENTENCES)
        assert theirs["ids"] == ids and all(row[0] == 1 for row in ids)  # <s> first, in both
        assert theirs["offsets"] == offsets
        for mine, other in zip(logits, theirs["logits"]):
            assert torch.allclose(mine, torch.tensor(other), atol=1e-5), name
