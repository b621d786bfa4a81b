"""The house's layout rules, checked on the source: a folder per verb, `core/` free of the UI,
generation free of training code, and docs/architecture.md naming every part of `core/`."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERB_PACKAGES = ("train", "evaluate", "generate", "serve", "sweep", "export", "bench", "history", "data", "cli")


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_every_verb_has_its_package():
    for name in VERB_PACKAGES:
        assert (ROOT / "core" / name / "__init__.py").is_file(), f"core/{name}/ should be a package"
    for flat in ("generate", "generate_batch", "fast_decode", "serve", "serve_api", "serve_app", "sweep",
                 "sweep_runs", "sweep_plot", "history", "history_schema"):
        assert not (ROOT / "core" / f"{flat}.py").exists(), f"core/{flat}.py belongs in its package"


def test_core_never_imports_the_ui():
    for path in (ROOT / "core").rglob("*.py"):
        bad = {m for m in _imports(path) if m.split(".")[0] in ("gradio", "studio")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_generation_imports_no_training_code():
    for path in [*(ROOT / "core" / "generate").rglob("*.py"), ROOT / "core" / "model" / "folders.py"]:
        bad = {m for m in _imports(path) if m.startswith("core.train")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_architecture_names_every_part_of_core():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    parts = [p.name for p in (ROOT / "core").iterdir() if p.suffix == ".py" and p.name != "__init__.py"]
    parts += [f"{p.name}/" for p in (ROOT / "core").iterdir() if (p / "__init__.py").is_file()]
    missing = [p for p in parts if f"`{p}" not in text]
    assert not missing, f"docs/architecture.md does not describe {missing}"
