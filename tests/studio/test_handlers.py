"""Studio handlers say what they return: a dict keyed by component, one value, or a tuple of at most
three, never a slot-counted tuple of more than three or one padded with `*fillers` (checked on the
source of every module under studio/; builders, which return their components, are left out)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_SLOTS = 3


def _is_builder(name: str) -> bool:
    return name == "build" or name.startswith("_build")


def _offenders(path: Path) -> dict[str, list[int]]:
    """Handler name -> lines where it returns or yields a tuple of more than MAX_SLOTS or with a `*` slot."""
    found: dict[str, list[int]] = {}
    for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or _is_builder(fn.name):
            continue
        for node in ast.walk(fn):
            value = node.value if isinstance(node, (ast.Return, ast.Yield)) else None
            if isinstance(value, ast.Tuple) and (
                len(value.elts) > MAX_SLOTS or any(isinstance(e, ast.Starred) for e in value.elts)
            ):
                found.setdefault(fn.name, []).append(node.lineno)
    return found


def _all_offenders() -> dict[str, list[int]]:
    found = {}
    for path in sorted((ROOT / "studio").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        found |= {f"{rel}:{name}": lines for name, lines in _offenders(path).items()}
    return found


def test_no_handler_returns_a_slot_counted_tuple():
    bad = _all_offenders()
    assert not bad, f"return a dict keyed by component instead (lines): {bad}"


def test_the_check_sees_a_long_tuple_and_a_padded_one(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "def poll(a):\n    return a, a, a, a\n\ndef pad(a):\n    return (a, *[a])\n\n"
        "def ok(a):\n    return {a: 1}\n\ndef build(a):\n    return a, a, a, a, a\n",
        encoding="utf-8",
    )
    assert _offenders(source) == {"poll": [2], "pad": [5]}
