"""Every `babyllama` verb has help text (sqlite-utils' test_docs habit)."""

from __future__ import annotations

import argparse

from core.cli import build_parser


def _verbs(parser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield prefix + (name,), helps.get(name), sub
                yield from _verbs(sub, prefix + (name,))


def test_every_verb_has_help():
    verbs = list(_verbs(build_parser()))
    assert len(verbs) >= 8
    missing = [" ".join(path) for path, text, _ in verbs if not text]
    assert not missing, f"verbs without help: {missing}"


# Verbs that read or write nothing in a workspace: the config key list.
WORKSPACE_FREE = {"keys"}


def test_every_verb_takes_workspace():
    leaves = [
        (path, sub)
        for path, _, sub in _verbs(build_parser())
        if not any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
    ]
    lacking = [
        " ".join(path)
        for path, sub in leaves
        if path[-1] not in WORKSPACE_FREE and not any("--workspace" in a.option_strings for a in sub._actions)
    ]
    assert not lacking, f"verbs without --workspace: {lacking}"
