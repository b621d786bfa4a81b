"""The house's layout rules, checked on the source: a folder per verb and per part, `core/` free of
the UI, generation free of training code, and docs/architecture.md mapping every module of `core/`
and `studio/` under its package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERB_PACKAGES = ("train", "evaluate", "generate", "serve", "sweep", "export", "bench", "history", "data", "cli")
# Parts that were loose modules at core/'s root, now packages named for what they hold.
PART_PACKAGES = ("config", "doctor", "jobs", "model", "tokenizer")
MOVED = (
    "config",
    "presets",
    "resolve",
    "doctor",
    "gpu_check",
    "gpu_check_parts",
    "models",
    "modelio",
    "tokenizer",
    "challenge",
    "jobs",
    "worker",
    "quickstart",
)


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
    for flat in (
        "generate",
        "generate_batch",
        "fast_decode",
        "serve",
        "serve_api",
        "serve_app",
        "sweep",
        "sweep_runs",
        "sweep_plot",
        "history",
        "history_schema",
    ):
        assert not (ROOT / "core" / f"{flat}.py").exists(), f"core/{flat}.py belongs in its package"


def test_every_part_has_its_package_and_no_old_module_stays():
    for name in PART_PACKAGES:
        assert (ROOT / "core" / name / "__init__.py").is_file(), f"core/{name}/ should be a package"
    for flat in MOVED:
        assert not (ROOT / "core" / f"{flat}.py").exists(), f"core/{flat}.py moved into a package (docs/architecture.md)"


def test_core_never_imports_the_ui():
    for path in (ROOT / "core").rglob("*.py"):
        bad = {m for m in _imports(path) if m.split(".")[0] in ("gradio", "studio")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_generation_imports_no_training_code():
    for path in [*(ROOT / "core" / "generate").rglob("*.py"), ROOT / "core" / "model" / "folders.py"]:
        bad = {m for m in _imports(path) if m.startswith("core.train")}
        assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def _map_sections(text: str) -> dict[str, str]:
    """docs/architecture.md's map: each `### `pkg/`` heading -> the text under it."""
    sections, current = {}, None
    for line in text.splitlines():
        match = re.match(r"### `([\w/]+)/`", line)
        if match:
            current = match.group(1)
            sections[current] = ""
        elif line.startswith("## "):
            current = None
        elif current:
            sections[current] += line + "\n"
    return sections


def test_architecture_maps_every_module_of_core_and_studio():
    """One line per module, under its package's heading, for every package of core/ and studio/."""
    sections = _map_sections((ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"))
    packages = [ROOT / top for top in ("core", "studio")]
    packages += [p for top in ("core", "studio") for p in (ROOT / top).rglob("*") if (p / "__init__.py").is_file()]
    missing = []
    for package in packages:
        name = package.relative_to(ROOT).as_posix()
        if name not in sections:
            missing.append(f"### `{name}/`")
            continue
        missing += [
            f"{name}/{m.name}" for m in package.glob("*.py") if m.name != "__init__.py" and f"- `{m.name}`:" not in sections[name]
        ]
    assert not missing, f"docs/architecture.md does not map {missing}"
    stale = [name for name in sections if not (ROOT / name / "__init__.py").is_file()]
    assert not stale, f"docs/architecture.md maps packages that do not exist: {stale}"
    named = {f"{name}/{m}" for name, body in sections.items() for m in re.findall(r"^- `([\w.]+\.py)`:", body, re.M)}
    gone = sorted(m for m in named if not (ROOT / m).is_file())
    assert not gone, f"docs/architecture.md maps modules that do not exist: {gone}"
