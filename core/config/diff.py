"""Flat views of saved configs: `flatten` (`{"training": {"lr": 1e-3}}` -> `{"training.lr": 1e-3}`)
and `config_diff` (a row per key whose value differs between runs), shared by Compare, `babyllama
report` and the trackers' hyper-parameters. Must not import torch or gradio.
"""

from __future__ import annotations

import json
from typing import Mapping


def flatten(config: Mapping, prefix: str = "") -> dict[str, object]:
    """Nested sections joined with dots; leaves (lists included) are kept as they are."""
    flat: dict[str, object] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_diff(configs: Mapping[str, Mapping | None], missing: str = "–") -> list[list[str]]:
    """Rows `[key, value per run]`, sorted by key, for every key whose value is not the same in all
    runs; a key a run lacks (or holds as None) shows `missing`, lists and dicts as JSON."""
    flat = [flatten(cfg or {}) for cfg in configs.values()]
    rows = []
    for key in sorted({k for f in flat for k in f}):
        values = [f.get(key) for f in flat]
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1:
            rows.append([key, *(_cell(v, missing) for v in values)])
    return rows


def _cell(value, missing: str) -> str:
    if value is None:
        return missing
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)
