"""Find preset YAML files by name: the built-in `presets/` folder and `<workspace>/presets/`.

A preset is a config file whose stem is its name (`llama-10M`); workspace presets (saved from
the Model tab) shadow nothing built in. Must not import torch or gradio.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import UserError

BUILTIN_DIR = Path(__file__).resolve().parents[2] / "presets"
SWEEPS_SUBDIR = "sweeps"  # presets/sweeps/*.yaml are sweep specs (core.sweep), not run configs


def preset_dirs(workspace=None) -> list[Path]:
    """Folders searched, built-in first; `workspace` is a `core.workspace.Workspace` or None."""
    dirs = [BUILTIN_DIR]
    if workspace is not None:
        dirs.append(workspace.root / "presets")
    return dirs


def available(workspace=None) -> dict[str, Path]:
    """Every preset name -> file, searching sub-folders too (`presets/**/*.yaml`) except `sweeps/`."""
    found: dict[str, Path] = {}
    for folder in preset_dirs(workspace):
        if folder.is_dir():
            for path in sorted(folder.rglob("*.yaml")):
                if SWEEPS_SUBDIR not in path.relative_to(folder).parts[:-1]:
                    found.setdefault(path.stem, path)
    return found


def find(name: str, workspace=None) -> Path:
    """The file of preset `name`; raise a UserError listing the known names if there is none."""
    presets = available(workspace)
    if name in presets:
        return presets[name]
    lowered = {k.lower(): k for k in presets}
    if name.lower() in lowered:
        return presets[lowered[name.lower()]]
    raise UserError(f"no preset named {name!r}; known presets: {', '.join(sorted(presets))}")


def resolve_config_path(value: str, workspace=None) -> Path:
    """`--config` takes a YAML path (as in the guide) or a bare preset name (`llama-10M`)."""
    path = Path(value).expanduser()
    if path.is_file():
        return path
    if path.suffix in {".yaml", ".yml"} and path.parent != Path("."):
        # The guide writes ./config/llama-10M.yaml; fall back to the preset of that name.
        try:
            return find(path.stem, workspace)
        except UserError:
            raise UserError(
                f"--config: no file at {value} and no preset named {path.stem!r}; see `babyllama presets list`"
            ) from None
    return find(path.stem if path.suffix else value, workspace)
