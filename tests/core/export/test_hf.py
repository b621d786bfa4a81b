"""`--format hf`: a clean transformers folder that loads and scores like the run, with a model card."""

from __future__ import annotations

import json

import pytest
import torch

from core.export.runner import ExportOptions, run_export
from core.generate import load_model
from core.history import open_history


@pytest.fixture(scope="module")
def hf_export(export_ws):
    run_dir = export_ws.run_dir("r1")
    # Training leftovers the export must not carry.
    (run_dir / "run.log").write_text("step 1\n")
    (run_dir / "job.json").write_text("{}")
    with open_history(export_ws) as history:
        history.set_status("r1", "finished", command="babyllama train --config tiny --lr 5e-4")
        result, folder = run_export(ExportOptions("r1", "hf"), export_ws, history=history, log=lambda m: None)
    return result, folder


def test_hf_folder_loads_and_gives_the_runs_logits(export_ws, hf_export):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _, folder = hf_export
    assert folder == export_ws.root / "exports" / "r1-hf"
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    original, original_tok = load_model("r1", export_ws, device="cpu")
    text = "the little dog ran to the park"
    ids = tokenizer(text, return_tensors="pt", add_special_tokens=False).input_ids
    assert ids.tolist() == original_tok(text, return_tensors="pt", add_special_tokens=False).input_ids.tolist()
    with torch.inference_mode():
        assert torch.equal(model(ids).logits, original(ids).logits)


def test_hf_folder_is_clean(hf_export):
    _, folder = hf_export
    names = {p.name for p in folder.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", "export.json", "config.yaml"} <= names
    assert not names & {"run.log", "job.json", "training_state.pt"} and not any(n.startswith(("checkpoint-", ".")) for n in names)
    assert not list(folder.parent.glob(".r1-hf.tmp-*"))  # the temp folder was renamed, nothing left behind


def test_model_card_tells_what_the_model_is(hf_export):
    result, folder = hf_export
    card = (folder / "README.md").read_text()
    assert "LlamaForCausalLM" in card and "| layers | 2 |" in card and "| hidden size | 32 |" in card
    assert "babyllama train --config tiny --lr 5e-4" in card  # how it was trained
    assert "| eval_loss | 6.1 | 5.9 (10) |" in card  # last and best, from the history
    assert "| ppl | perplexity | 321.5 | 100 |" in card  # evaluations
    assert "train_path: syn" in card and "- tokenizer: `tok`" in card  # resolved config, data, tokenizer
    assert json.loads((folder / "export.json").read_text())["files"] == result["files"]


def test_a_checkpoint_exports_under_its_step(export_ws, make_run, tmp_path):
    from core.tokenizer import load_tokenizer

    make_run(export_ws, "r2", load_tokenizer("tok", export_ws))
    run = export_ws.run_dir("r2")
    ckpt = run / "checkpoint-40"
    ckpt.mkdir()
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "config.yaml"):
        (ckpt / name).write_bytes((run / name).read_bytes())
    (ckpt / "training_state.pt").write_bytes(b"optimizer")
    _, folder = run_export(ExportOptions(str(ckpt), "hf"), export_ws, log=lambda m: None)
    assert folder.name == "r2-step40-hf" and not (folder / "training_state.pt").exists()
    assert "(step 40)" in (folder / "README.md").read_text()
