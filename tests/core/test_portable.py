"""core.portable: tokenizer and model configs rewritten so transformers 4.x reads what 5.x wrote."""

from __future__ import annotations

import json

from core.portable import make_portable


def _write(folder, tok: dict, cfg: dict):
    (folder / "tokenizer_config.json").write_text(json.dumps(tok))
    (folder / "config.json").write_text(json.dumps(cfg))


def test_tokenizer_class_and_load_time_keys(tmp_path):
    _write(
        tmp_path,
        {
            "tokenizer_class": "TokenizersBackend",
            "is_local": True,
            "local_files_only": False,
            "backend": "tokenizers",
            "bos_token": "<s>",
        },
        {"model_type": "gpt2", "dtype": "float32"},
    )
    changes = make_portable(tmp_path)
    tok = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert tok == {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "model_input_names": ["input_ids", "attention_mask"],
    }
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg == {"model_type": "gpt2", "dtype": "float32", "torch_dtype": "float32"}
    assert any("TokenizersBackend -> PreTrainedTokenizerFast" in c for c in changes)
    assert make_portable(tmp_path) == []  # idempotent: a second pass changes nothing
    assert not list(tmp_path.glob(".*tmp*"))


def test_rope_settings_are_written_where_4x_reads_them(tmp_path):
    """A non-default theta must reach 4.x (it would silently use 10000 otherwise), and 5.x must
    still read the same one from the rewritten file."""
    from transformers import AutoConfig

    rope = {"rope_theta": 500000.0, "rope_type": "linear", "factor": 2.0}
    _write(
        tmp_path,
        {"tokenizer_class": "PreTrainedTokenizerFast"},
        {"model_type": "llama", "rope_parameters": rope, "hidden_size": 32, "num_attention_heads": 2},
    )
    make_portable(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["rope_theta"] == 500000.0 and cfg["rope_scaling"] == {"rope_type": "linear", "factor": 2.0}
    assert cfg["rope_parameters"] == rope  # the 5.x names stay
    assert AutoConfig.from_pretrained(tmp_path).rope_parameters["rope_theta"] == 500000.0


def test_a_folder_without_configs_is_left_alone(tmp_path):
    assert make_portable(tmp_path) == [] and list(tmp_path.iterdir()) == []


def test_portability_note_names_what_4x_would_refuse_and_writes_nothing(tmp_path):
    from core.portable import portability_note

    _write(tmp_path, {"tokenizer_class": "TokenizersBackend", "is_local": True}, {"model_type": "gpt2"})
    before = {p.name: p.read_text() for p in tmp_path.iterdir()}
    note = portability_note(tmp_path)
    assert "TokenizersBackend -> PreTrainedTokenizerFast" in note and "--format babylm" in note
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before
    make_portable(tmp_path)
    assert portability_note(tmp_path) is None


def test_the_tokenizer_returns_no_token_type_ids_a_gpt2_would_embed(tmp_path):
    """4.x's PreTrainedTokenizerFast returns token_type_ids unless model_input_names says otherwise;
    `model(**tokenizer(text))` then adds wte[0] to every position of a GPT-2 (GPT-J likewise)."""
    from core.portable import portability_note

    _write(tmp_path, {"tokenizer_class": "PreTrainedTokenizerFast"}, {"model_type": "gpt2"})
    assert "model_input_names" in portability_note(tmp_path)
    _write(tmp_path, {"tokenizer_class": "PreTrainedTokenizerFast"}, {"model_type": "llama"})
    assert portability_note(tmp_path) is None  # Llama takes no token_type_ids: nothing would change
    _write(tmp_path, {"tokenizer_class": "PreTrainedTokenizerFast", "model_input_names": ["input_ids"]}, {"model_type": "gpt2"})
    assert make_portable(tmp_path) == []  # a folder that names its inputs keeps them
