"""Every preset file is found, valid, and within 10 % of the size in its name."""

from __future__ import annotations

import re

import pytest

from core import config
from core.config import presets
from core.errors import UserError
from core.model import build as models

PRESET_FILES = sorted(
    p
    for p in presets.BUILTIN_DIR.rglob("*.yaml")  # presets/sweeps/: tests/core/test_sweep.py
    if presets.SWEEPS_SUBDIR not in p.relative_to(presets.BUILTIN_DIR).parts[:-1]
)
REQUIRED = {"llama-10M", "llama-16M", "llama-58M", "llama-95M", "llama-360M", "gpt2-97M", "gpt2-705M", "gptj-97M", "tiny"}


def test_required_presets_exist():
    assert REQUIRED <= {p.stem for p in PRESET_FILES}
    assert REQUIRED <= set(presets.available())


@pytest.mark.parametrize("path", PRESET_FILES, ids=lambda p: p.stem)
def test_preset_is_valid_and_sized_as_named(path):
    cfg = config.load(path)
    built = models.build_model(cfg.model, models.NOMINAL_VOCAB, device="meta")
    real = sum(p.numel() for p in built.parameters())
    assert models.count_parameters(cfg.model) == real
    size = re.search(r"(\d+)M$", path.stem)
    if size:
        named = int(size.group(1)) * 1_000_000
        assert abs(real - named) / named <= 0.10, f"{path.stem}: {real:,} parameters"


def test_llama_58m_is_the_babylm_student():
    m = config.load(presets.find("llama-58M")).model
    assert (m.hidden_size, m.n_layer, m.n_head, m.intermediate_size) == (512, 16, 8, 1024)


def test_find_by_name_path_and_guide_path():
    assert presets.find("LLAMA-10m").stem == "llama-10M"
    assert presets.resolve_config_path("presets/tiny.yaml").name == "tiny.yaml"
    assert presets.resolve_config_path("./config/llama-16M.yaml").stem == "llama-16M"
    with pytest.raises(UserError, match="known presets"):
        presets.find("llama-1T")


def test_workspace_presets_are_found(workspace):
    (workspace.root / "presets").mkdir()
    (workspace.root / "presets" / "mine.yaml").write_text("model:\n  hidden_size: 64\n  n_head: 4\n")
    assert presets.find("mine", workspace).parent == workspace.root / "presets"
