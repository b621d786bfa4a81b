"""core/config/diff.py: dotted keys and the rows of keys that differ between runs."""

from core.config.diff import config_diff, flatten


def test_flatten_makes_dotted_keys_and_keeps_leaves():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x"}) == {"a.b": 1, "a.c.d": [1, 2], "e": "x"}


def test_config_diff_lists_only_differing_keys_in_order():
    rows = config_diff({"a": {"m": {"x": 1, "y": 2, "l": [1]}}, "b": {"m": {"x": 1, "y": 3, "z": 0, "l": [1, 2]}}})
    assert rows == [["m.l", "[1]", "[1, 2]"], ["m.y", "2", "3"], ["m.z", "–", "0"]]
    assert config_diff({"a": {"m": {"z": None}}, "b": {}}, missing="(not set)") == []  # None == absent
    assert config_diff({"a": {"k": 1}, "b": {"k": 1}}) == []
    assert config_diff({"a": {"k": 1}, "b": None}, missing="(not set)") == [["k", "1", "(not set)"]]
