"""core.yamlio: user YAML is bounded (size, aliases, depth, duplicate keys, number length) and every
refusal is a UserError naming the file, the key and the fix; config files, overrides and sweep specs use it."""

from __future__ import annotations

import pytest

from core import config, yamlio
from core.errors import ConfigError, UserError
from core.sweep import spec as sweep_spec

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


def test_plain_config_yaml_still_loads():
    assert yamlio.loads("training:\n  lr: 3e-4\nmodel: {n_layer: 2}\n") == {"training": {"lr": "3e-4"}, "model": {"n_layer": 2}}


def test_alias_bomb_is_refused_at_the_first_alias():
    with pytest.raises(yamlio.YamlError, match=r"line 2: YAML aliases \(\*a\) are not accepted"):
        yamlio.loads(BOMB, "bomb.yaml")


def test_deep_nesting_is_refused_without_recursion_error():
    with pytest.raises(yamlio.YamlError, match="nested deeper than 32 levels"):
        yamlio.loads("training: " + "[" * 5000 + "]" * 5000, "deep.yaml")


def test_duplicate_key_names_both_lines():
    with pytest.raises(yamlio.YamlError, match=r"training\.lr: duplicate key on lines 2 and 3"):
        yamlio.loads("training:\n  lr: 1e-3\n  lr: 5\n", "dup.yaml")


def test_million_digit_number_is_refused_with_its_key():
    with pytest.raises(yamlio.YamlError, match=r"line 2: training\.batch_size: a number of 1,000,000 characters"):
        yamlio.loads("training:\n  batch_size: " + "9" * 1_000_000 + "\n", "big.yaml")


def test_file_over_one_mib_is_refused_before_parsing(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text("# " + "x" * (yamlio.MAX_BYTES + 10) + "\n")
    with pytest.raises(yamlio.YamlError, match="larger than 1,048,576 bytes"):
        yamlio.load_file(path)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("training:\n  lr: 1e-3\n  lr: 5\n", "training.lr: duplicate key on lines 2 and 3"),
        (BOMB, "YAML aliases"),
        ("training: " + "[" * 5000 + "]" * 5000, "nested deeper"),
        ("training:\n  max_steps: " + "1" * 1_000_000 + "\n", "training.max_steps: a number of"),
    ],
)
def test_config_load_reports_it_as_one_config_error(tmp_path, text, expected):
    path = tmp_path / "cfg.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.").replace("(", r"\(")):
        config.load(path)


def test_override_with_a_million_digits_names_the_key():
    with pytest.raises(ConfigError, match=r"training\.batch_size: .*a number of 1,000,000 characters"):
        config.load(overrides=["training.batch_size=" + "9" * 1_000_000])


def test_sweep_spec_refuses_duplicate_keys(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("base: tiny\ngrid:\n  training.lr: [1e-4]\n  training.lr: [3e-4]\n")
    with pytest.raises(UserError, match=r"grid\.training\.lr: duplicate key on lines 3 and 4"):
        sweep_spec.read_spec(path)
