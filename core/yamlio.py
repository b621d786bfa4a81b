"""Bounded YAML reading for everything a user hands us (config files, overrides, sweep specs, presets).

A SafeLoader subclass that refuses what PyYAML alone would take silently or die on: files over
1 MiB, anchors/aliases (the "billion laughs"), nesting deeper than 32, duplicate keys (both lines
named) and numbers longer than 100 characters. Every refusal is a `YamlError` (a UserError) naming
the file, the key path and the fix. Standard library + PyYAML only; never torch or gradio.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core.errors import UserError

MAX_BYTES = 1 << 20  # 1 MiB: a run config is a few hundred bytes, a sweep spec a few KB
MAX_DEPTH = 32  # sections are 2 deep, sweep spaces 4: 32 is far beyond any real file
MAX_NUMBER_CHARS = 100  # the longest meaningful number is ~20 digits; 1M digits would stall int()

_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


class YamlError(UserError):
    """YAML a user gave that we refuse: the message names the source, the key and the fix."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that composes at most MAX_DEPTH levels and refuses aliases as it reads them."""

    def __init__(self, stream, source: str):
        super().__init__(stream)
        self._source, self._depth = source, 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise YamlError(
                f"{self._source}, line {event.start_mark.line + 1}: YAML aliases (*{event.anchor}) are "
                "not accepted (they can expand without end); write the value out in full"
            )
        self._depth += 1
        if self._depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise YamlError(
                f"{self._source}, line {mark.line + 1}: nested deeper than {MAX_DEPTH} levels; "
                "a config has sections of key: value, flatten the file"
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _check_tree(node: yaml.Node, source: str) -> None:
    """Duplicate keys (with both lines) and over-long numbers (with the key path), iteratively."""
    stack: list[tuple[yaml.Node, str]] = [(node, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.tag in _NUMBER_TAGS and len(node.value) > MAX_NUMBER_CHARS:
                where = f"{path}: " if path else ""
                raise YamlError(
                    f"{source}, line {node.start_mark.line + 1}: {where}a number of {len(node.value):,} "
                    f"characters (at most {MAX_NUMBER_CHARS}); write a sensible value"
                )
        elif isinstance(node, yaml.SequenceNode):
            stack += [(child, f"{path}[{i}]") for i, child in enumerate(node.value)]
        elif isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
                child = f"{path}.{key}" if path else str(key)
                line = key_node.start_mark.line + 1
                if key in seen and key != "<<":
                    raise YamlError(
                        f"{source}: {child}: duplicate key on lines {seen[key]} and {line}; "
                        "keep one of them (YAML would silently take the last)"
                    )
                seen[key] = line
                stack += [(key_node, child), (value_node, child)]


def loads(text: str, source: str = "YAML") -> Any:
    """Parse one YAML document with the limits above; `source` names it in every error
    (a file path, or a flag such as `training.lr`)."""
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_BYTES:
        raise YamlError(
            f"{source}: {size:,} bytes, more than the {MAX_BYTES:,} a YAML file may have; "
            "a config is a few hundred bytes: check that this is the right file"
        )
    loader = _BoundedLoader(text, source)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_tree(node, source)
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        raise YamlError(f"{source}: not valid YAML: {err}; fix the YAML syntax at the line shown") from None
    finally:
        loader.dispose()


def load_file(path: str | Path, what: str = "") -> Any:
    """Read and parse a YAML file (at most MAX_BYTES read); unreadable or non-UTF-8 is a YamlError."""
    path = Path(path)
    label = f"{what} {path}".strip()
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as err:
        raise YamlError(f"{label}: cannot read it ({err.strerror or err}); check the path") from None
    if len(data) > MAX_BYTES:
        raise YamlError(
            f"{label}: larger than {MAX_BYTES:,} bytes, the most a YAML file may have; "
            "a config is a few hundred bytes: check that this is the right file"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise YamlError(f"{label}: not UTF-8 text (byte {err.start}); save the file as UTF-8") from None
    return loads(text, label)
