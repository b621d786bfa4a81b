"""What keeps `babyllama --help` under a second: help that shows the defaults of an options
dataclass whose module imports torch, without importing it to build the parser, and `given`.
Must not import torch, gradio or sqlite_utils at import.
"""

from __future__ import annotations

import argparse
import functools
from importlib import import_module


def defaults_formatter(source: str):
    """A `formatter_class` whose `%(default)s` comes from the dataclass `source` ("module:Class")
    for flags registered with `default=None`; the class is imported when help is printed, not
    when the parser is built. Pair with `given()` so unset flags keep the dataclass's defaults."""
    return functools.partial(_DefaultsFrom, source=source)


def given(args: argparse.Namespace, names) -> dict:
    """The options among `names` the user set (not None): the keyword arguments of the dataclass."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


class _DefaultsFrom(argparse.HelpFormatter):
    def __init__(self, prog, source: str, **kwargs):
        super().__init__(prog, **kwargs)
        self._source = source

    def _get_help_string(self, action):
        text = super()._get_help_string(action) or ""
        if action.default is None and "%(default)" in text:
            module, _, name = self._source.partition(":")
            value = getattr(getattr(import_module(module), name)(), action.dest)
            text = text.replace("%(default)s", str(value).replace("%", "%%"))
        return text
