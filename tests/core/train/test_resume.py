"""core.train.resume: a checkpoint's weights load only into the model they were saved from (an exact
resume of a whole run is tests/core/train/test_loop.py's)."""

from __future__ import annotations

import pytest
from safetensors.torch import save_file

from core.config import ModelConfig
from core.model.build import build_model
from core.train.resume import load_weights


def _model(**fields):
    return build_model(ModelConfig(**fields), 64)


def test_weights_round_trip_and_a_tied_head_may_be_absent(tmp_path):
    saved = _model(hidden_size=32, n_layer=1, n_head=2, intermediate_size=64, tie_word_embeddings=True)
    state = {k: v.clone() for k, v in saved.state_dict().items() if k != "lm_head.weight"}
    save_file(state, str(tmp_path / "model.safetensors"))
    fresh = _model(hidden_size=32, n_layer=1, n_head=2, intermediate_size=64, tie_word_embeddings=True)
    load_weights(fresh, tmp_path)
    for name, value in saved.state_dict().items():
        assert fresh.state_dict()[name].equal(value), name
    assert fresh.lm_head.weight.data_ptr() == fresh.model.embed_tokens.weight.data_ptr()  # still tied


def test_a_checkpoint_of_another_shape_is_refused_by_name(tmp_path):
    other = _model(hidden_size=32, n_layer=2, n_head=2, intermediate_size=64)
    save_file({k: v.clone() for k, v in other.state_dict().items()}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match="does not fit this model: missing .*unexpected .*layers.1"):
        load_weights(_model(hidden_size=32, n_layer=1, n_head=2, intermediate_size=64), tmp_path)
